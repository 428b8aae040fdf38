// play.mjs opens a page in Debian's Chromium, headless, through playwright-core, and prints
// the JSON the page sets as window.result: what hls.js played, or why it could not.
//
//	node e2e/hls/play.mjs PAGE_URL
//
// CHROMIUM names the browser binary (default /usr/bin/chromium); PLAY_TIMEOUT_MS how long the
// page may take to set its result (default 60000); CHROMIUM_ARGS more switches for it,
// space-separated (such as --use-fake-ui-for-media-stream).
import { chromium } from 'playwright-core';

const [pageURL] = process.argv.slice(2);
if (!pageURL) {
  console.error('usage: play.mjs PAGE_URL');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required',
    ...(process.env.CHROMIUM_ARGS || '').split(' ').filter(Boolean)],
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.error(`page: ${m.text()}`));
  await page.goto(pageURL);
  const result = await page.waitForFunction(() => window.result, null, { timeout: Number(process.env.PLAY_TIMEOUT_MS || 60_000) });
  console.log(JSON.stringify(await result.jsonValue()));
} finally {
  await browser.close();
}
