// dashboard.mjs drives the operator dashboard in Debian's Chromium, headless, through
// playwright-core, as an operator would, step by step with the Go test that runs it
// (cmd/reelay/dashboard_test.go): it prints one JSON line per step on stdout, and waits for the
// test's commands, one per line on stdin.
//
//	REELAY_TOKEN=... node e2e/dashboard/dashboard.mjs DASHBOARD_URL SCREENSHOT_DIR [NAME]
//
// It signs in with the admin token REELAY_TOKEN, or on the API listener with the admin account
// REELAY_HANDLE and REELAY_PASSWORD when they are set. Screenshots are called NAME-desktop.png,
// NAME-phone.png, ... (NAME defaults to "dashboard").
//
// Steps, in order:
//   {"step":"gate"}     the login page, before any token; the data endpoint's status without one
//   {"step":"refused"}  a wrong token is refused, and the page stays on the login
//   {"step":"alive"}    signed in: the state of each node row (data-node, data-state), once
//                       at least `nodes` (the first command, "nodes N") are alive
//   then, for each command:
//     "gone NAME"       waits until NAME's row shows left or dead: {"step":"gone","state":...}
//     "points"          waits until every chart of requests has points: {"step":"points","charts":{...}}
//     "pipeline"        waits for the pipeline's section: {"step":"pipeline","text":...}
//     "screenshots"     saves NAME-desktop.png and NAME-phone.png: {"step":"screenshots"}
//     "purge ID"        purges ID from the form: cancels the confirmation once, then confirms:
//                       {"step":"purge","cancelled":...,"toast":...}
//     "quit"
//
// CHROMIUM names the browser binary (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

const [url, shots, name = 'dashboard'] = process.argv.slice(2);
const token = process.env.REELAY_TOKEN;
if (!url || !shots || !token) {
  console.error('usage: REELAY_TOKEN=... dashboard.mjs DASHBOARD_URL SCREENSHOT_DIR');
  process.exit(2);
}
const say = (o) => console.log(JSON.stringify(o));
const lines = createInterface({ input: process.stdin });
const commands = lines[Symbol.asyncIterator]();
const next = async () => {
  const { value, done } = await commands.next();
  return done ? 'quit' : value.trim();
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  const errors = []; // uncaught exceptions of the page
  page.on('console', (m) => console.error(`page: ${m.text()}`));
  page.on('pageerror', (e) => { errors.push(String(e)); console.error(`page error: ${e}`); });

  // The gate: no token, the login page; the data endpoint refuses.
  await page.goto(url);
  await page.waitForSelector('[data-login]', { timeout: 30_000 });
  const status = await page.evaluate(async () => {
    const edge = await fetch('/_edge/cluster');
    if (edge.status !== 404) return { path: '/_edge/cluster', status: edge.status, body: await edge.json() };
    const r = await fetch('/v1/admin/dashboard/cluster');
    return { path: '/v1/admin/dashboard/cluster', status: r.status, body: await r.json() };
  });
  say({ step: 'gate', login: true, rows: await page.locator('[data-node]').count(), ...status });

  // A wrong token is refused.
  const tokenTab = page.getByRole('tab', { name: 'Admin token' });
  if (await tokenTab.count()) await tokenTab.click();
  await page.fill('input[name=token]', 'not-the-admin-token');
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-login] .error', { timeout: 15_000 });
  say({ step: 'refused', error: await page.textContent('[data-login] .error'), rows: await page.locator('[data-node]').count() });

  // Sign in.
  const want = Number((await next()).replace(/^nodes /, ''));
  if (process.env.REELAY_HANDLE) {
    await page.getByRole('tab', { name: 'Admin account' }).click();
    await page.fill('input[name=handle]', process.env.REELAY_HANDLE);
    await page.fill('input[name=password]', process.env.REELAY_PASSWORD || '');
  } else {
    await page.fill('input[name=token]', token);
  }
  await page.click('button[type=submit]');
  await page.waitForFunction((n) => document.querySelectorAll('tr[data-node][data-state=alive]').length >= n, want, { timeout: 60_000 });
  const states = () => page.$$eval('tr[data-node]', (rows) => Object.fromEntries(rows.map((r) => [r.dataset.node, r.dataset.state])));
  say({ step: 'alive', states: await states() });

  for (let cmd = await next(); cmd !== 'quit'; cmd = await next()) {
    const [verb, arg] = cmd.split(' ');
    if (verb === 'gone') {
      const started = Date.now();
      await page.waitForFunction((name) => {
        const r = document.querySelector(`tr[data-node="${name}"]`);
        return r && (r.dataset.state === 'left' || r.dataset.state === 'dead');
      }, arg, { timeout: 90_000, polling: 100 });
      say({ step: 'gone', states: await states(), waited_ms: Date.now() - started });
    } else if (verb === 'points') {
      await page.waitForFunction(() => {
        const p = document.querySelector('[data-chart=requests] .plot');
        return p && Number(p.dataset.points) > 2 && document.querySelector('[data-chart=requests] .uplot canvas');
      }, null, { timeout: 60_000 });
      const charts = await page.$$eval('[data-chart]', (cs) => Object.fromEntries(cs.map((c) => [c.dataset.chart, Number(c.querySelector('.plot').dataset.points || 0)])));
      // The requests chart's canvas has pixels drawn in the series' colour, not only the axes.
      const drawn = await page.$eval('[data-chart=requests] .uplot canvas', (cv) => {
        const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i + 2] > 150 && d[i] < 150) n++;
        return n;
      });
      say({ step: 'points', charts, drawn });
    } else if (verb === 'pipeline') {
      await page.waitForSelector('[data-pipeline]', { timeout: 30_000 });
      say({ step: 'pipeline', text: await page.innerText('[data-pipeline]') });
    } else if (verb === 'screenshots') {
      await page.screenshot({ path: join(shots, `${name}-desktop.png`), fullPage: true });
      const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
      const pp = await phone.newPage();
      await pp.goto(url);
      await pp.evaluate((t) => localStorage.setItem('reelay.dashboard.token', t), await page.evaluate(() => localStorage.getItem('reelay.dashboard.token')));
      await pp.reload();
      await pp.waitForSelector('tr[data-node]', { timeout: 30_000 });
      await pp.waitForFunction(() => Number((document.querySelector('[data-chart=requests] .plot') || { dataset: {} }).dataset.points) > 2, null, { timeout: 30_000 });
      await pp.screenshot({ path: join(shots, `${name}-phone.png`) });
      await pp.screenshot({ path: join(shots, `${name}-phone-full.png`), fullPage: true });
      const overflow = await pp.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      await phone.close();
      // The login page on a phone, too.
      const anon = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true });
      const ap = await anon.newPage();
      await ap.goto(url);
      await ap.waitForSelector('[data-login]');
      await ap.screenshot({ path: join(shots, `${name}-login-phone.png`) });
      await anon.close();
      say({ step: 'screenshots', phone_overflow_px: overflow });
    } else if (verb === 'purge') {
      const requests = [];
      const watch = (r) => { if (r.method() === 'DELETE') requests.push(r.url()); };
      page.on('request', watch);
      await page.fill('form.purge input[name=video]', arg);
      await page.click('form.purge button[type=submit]');
      await page.waitForSelector('dialog[data-confirm][open]');
      await page.click('dialog[data-confirm] button[value=cancel]');
      await page.waitForSelector('dialog[data-confirm][open]', { state: 'detached' });
      const cancelled = requests.length;
      await page.click('form.purge button[type=submit]');
      await page.waitForSelector('dialog[data-confirm][open]');
      const question = await page.textContent('dialog[data-confirm]');
      await page.click('[data-confirm-ok]');
      await page.waitForSelector('[data-toast]', { timeout: 15_000 });
      page.off('request', watch);
      say({ step: 'purge', requests_after_cancel: cancelled, requests, question, toast: await page.textContent('[data-toast]') });
    } else {
      say({ step: 'error', error: `unknown command ${cmd}` });
    }
  }
  say({ step: 'done', errors });
} finally {
  await browser.close();
}
