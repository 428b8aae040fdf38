// player.mjs drives reelay's swipe player (the page at / on the API listener) in Debian's
// Chromium through playwright-core, as two people would on their phones:
//
//  1. A creator lands in For You and watches without an account; liking asks them to sign
//     up, which they do in the page.
//  2. A viewer opens the creator's profile, taps Follow, signs up when asked, and follows.
//  3. The creator uploads CLIP through the page (tus); the browser goes offline during the
//     upload and back, and the upload resumes; they watch its status until it is playable,
//     then ready; it shows in their profile. Then they upload BROKEN, a file cut short that
//     the transcoder fails; their own page on another device (nothing of the uploads in its
//     storage) shows both, the clip ready and the other failed with the reason.
//  4. The viewer watches For You: the first video plays; the page preloads the next one; a
//     swipe (touch) moves to it; the arrow keys and the wheel move back and forth.
//  5. The viewer's Following feed has the creator's clip; it plays; a like counts, and still
//     does after a reload; they comment, share it (the link copied opens it) and report it.
//
// It prints one JSON object of what it saw (cmd/reelay's TestPlayerInChromium judges it) and
// saves screenshots under SHOTS.
//
//	node e2e/web/player.mjs API_URL CLIP SHOTS [BROKEN]
//
// CHROMIUM names the browser binary (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [api, clip, shots, broken] = process.argv.slice(2);
const suffix = process.env.PLAYER_HANDLE_SUFFIX || ''; // for runs against a reelay that has the handles already
if (!api || !clip || !shots) {
  console.error('usage: player.mjs API_URL CLIP SHOTS');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const out = { steps: [], pageErrors: [], events: {}, eventStatuses: [] };
const log = (...a) => console.error('player.mjs:', ...a);
let step = '';
const begin = (name) => {
  step = name;
  out.steps.push(name);
  log(name);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});
const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true };

// newPage opens a page of a new browser profile, recording its script errors, the answers to
// its events, and the Cache-Status of every media segment it fetched (in order, with when).
const pages = {};
async function newPage(name, options) {
  const ctx = await browser.newContext(options);
  const page = await ctx.newPage();
  pages[name] = page;
  page.on('pageerror', (e) => out.pageErrors.push(`${name}: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && log(`${name} console: ${m.text()}`));
  page.segments = [];
  page.on('response', async (r) => {
    const u = r.url();
    if (u.endsWith('/v1/events') && r.request().method() === 'POST') {
      out.eventStatuses.push(r.status());
      try {
        for (const e of r.request().postDataJSON().events) out.events[e.type] = (out.events[e.type] || 0) + 1;
      } catch {
        // not JSON: the status tells
      }
    }
    const m = u.match(/\/v\/([a-z2-7]{26})\/[^/]+\/([^/]+)\/(seg_\d+\.m4s|init\.mp4)/);
    if (r.status() >= 400) log(`${name}: ${r.request().method()} ${u}: ${r.status()}`);
    if (m) page.segments.push({ video: m[1], rendition: m[2], file: m[3], status: r.status(), cacheStatus: r.headers()['cache-status'] || '', at: Date.now() });
  });
  return page;
}

// active is what the page's current slot shows.
const active = (page) => page.evaluate(() => {
  const s = document.querySelector('.slot.active');
  if (!s) return null;
  const v = s.querySelector('video');
  return {
    video: s.dataset.video, state: s.dataset.state, time: v.currentTime, paused: v.paused,
    likes: s.querySelector('[data-count=likes]').textContent, liked: s.querySelector('.act.like').getAttribute('aria-pressed') === 'true',
    index: Number(document.querySelector('.stage').dataset.index),
  };
});

// playing waits until the current video is id (any when null) and its time advances by 0.5 s.
async function playing(page, id = null, timeout = 20000) {
  const first = await page.waitForFunction((id) => {
    const s = document.querySelector('.slot.active');
    const v = s && s.querySelector('video');
    return v && (!id || s.dataset.video === id) && s.dataset.state === 'playing' && v.currentTime > 0 ? v.currentTime : false;
  }, id, { timeout });
  const t0 = await first.jsonValue();
  await page.waitForFunction((t0) => document.querySelector('.slot.active video').currentTime >= t0 + 0.5, t0, { timeout });
  return active(page);
}

async function signUp(page, handle) {
  await page.waitForSelector('.sheet.login');
  await page.fill('.sheet.login input[name=handle]', handle);
  await page.fill('.sheet.login input[name=password]', 'correct horse battery');
  await page.click('.sheet.login button[type=submit]');
  await page.waitForSelector('.sheet.login', { state: 'detached' });
}

// shot saves a screenshot once the page's transitions (a sheet rising, a slide) are over.
async function shot(page, name) {
  await page.waitForFunction(() => document.getAnimations().every((a) =>
    a.playState !== 'running' || a.effect.getComputedTiming().iterations === Infinity));
  await page.screenshot({ path: join(shots, name) });
}

const fatal = (page) => page.evaluate(() => (window.reelay?.errors || []).filter((e) => e.fatal));

try {
  begin('creator lands in For You');
  const creator = await newPage('creator', phone);
  await creator.goto(api + '/');
  out.anonymousPlay = await playing(creator);
  await shot(creator, 'feed-phone.png');

  begin('creator taps like: asked to sign up');
  await creator.click('.slot.active .act.like');
  await creator.waitForSelector('.sheet.login');
  out.askedToLogIn = await creator.textContent('.sheet.login .reason');
  await shot(creator, 'login-phone.png');
  await signUp(creator, 'maker' + suffix);

  begin('viewer follows the creator from their profile');
  const viewer = await newPage('viewer', phone);
  await viewer.goto(api + '/#/@maker' + suffix);
  await viewer.click('[data-action=follow]');
  await signUp(viewer, 'viewer' + suffix);
  await viewer.waitForFunction(() => document.querySelector('[data-action=follow]')?.textContent === 'Following');

  begin('creator uploads a clip through the page, and the connection drops during it');
  // The second chunk never gets there: the browser goes offline as it is sent. The page
  // must say so, and resume from the server's offset once the browser is back online.
  const tus = [];
  await creator.route('**/v1/uploads/**', async (route) => {
    const req = route.request();
    tus.push({ method: req.method(), offset: req.headers()['upload-offset'] || '' });
    if (req.method() === 'PATCH' && tus.filter((r) => r.method === 'PATCH').length === 2) {
      await creator.context().setOffline(true);
      return route.abort('internetdisconnected');
    }
    return route.continue();
  });
  await creator.click('[data-nav=upload]');
  await creator.setInputFiles('input[type=file]', clip);
  await creator.fill('textarea[name=caption]', 'Made in the browser #e2e #reelay');
  await creator.click('.upload-form button[type=submit]');
  await creator.waitForSelector('[data-upload=note]:has-text("Offline")');
  out.offlineNote = await creator.textContent('[data-upload=note]');
  await shot(creator, 'upload-offline-phone.png');
  await creator.context().setOffline(false);
  await creator.waitForSelector('[data-upload=status][data-playable=true]', { timeout: 60000 });
  out.uploaded = await creator.getAttribute('[data-action=watch]', 'href');
  const clipID = out.uploaded.split('/').pop();
  out.clip = clipID;
  out.playableStatus = await creator.getAttribute('[data-upload=status]', 'data-status');
  await shot(creator, 'upload-phone.png');
  await creator.waitForSelector('[data-upload=status][data-status=ready]', { timeout: 60000 });
  out.tus = tus;
  await creator.unroute('**/v1/uploads/**');

  begin('the clip is in the creator\'s profile');
  await creator.click('[data-nav=me]');
  await creator.waitForSelector(`.tile[data-video="${clipID}"][data-status=ready] img`);
  await creator.waitForFunction(() => [...document.querySelectorAll('.tile img')].every((i) => i.complete && i.naturalWidth > 0));
  out.profileTiles = await creator.$$eval('.grid .tile', (ts) => ts.map((t) => ({ video: t.dataset.video, status: t.dataset.status })));
  await shot(creator, 'profile-phone.png');

  if (broken) {
    begin('creator uploads a file cut short; their page on another device shows it failed');
    await creator.click('[data-nav=upload]');
    await creator.setInputFiles('input[type=file]', broken);
    await creator.fill('textarea[name=caption]', 'Cut short');
    await creator.click('.upload-form button[type=submit]');
    await creator.waitForSelector('[data-upload=status][data-status=failed]', { timeout: 60000 });
    const laptop = await newPage('creator-laptop', { viewport: { width: 1280, height: 800 } });
    // Straight to the profile: For You would play (and cache at the edge) the videos whose
    // prefetch for the viewer is checked below.
    await laptop.goto(api + '/#/@maker' + suffix);
    await laptop.click('[data-nav=login]');
    await laptop.click('.sheet.login [data-switch=login]');
    await signUp(laptop, 'maker' + suffix);
    await laptop.click('[data-nav=me]');
    out.failedReason = await (await laptop.waitForSelector('.tile[data-status=failed] .reason')).textContent();
    await laptop.waitForSelector(`.tile[data-video="${clipID}"][data-status=ready]`);
    out.otherDeviceTiles = await laptop.$$eval('.grid .tile', (ts) => ts.map((t) => ({ video: t.dataset.video, status: t.dataset.status })));
    await shot(laptop, 'profile-other-device-desktop.png');
    await laptop.context().close();
  }

  begin('viewer watches For You');
  // The recommender reads new videos every few seconds: wait until For You can have the clip.
  for (const deadline = Date.now() + 20000; ;) {
    const page = await (await fetch(api + '/v1/feed/foryou?limit=50')).json();
    if (page.items.some((it) => it.id === clipID)) break;
    if (Date.now() > deadline) throw new Error(`For You never had ${clipID}`);
    await new Promise((done) => setTimeout(done, 100));
  }
  await viewer.click('[data-nav=home]');
  const first = await playing(viewer);
  out.forYouFirst = first.video;
  // The next video preloads while the first plays: its element has data buffered.
  const next = await viewer.waitForFunction(() => {
    const s = document.querySelectorAll('.slot')[1];
    const v = s && s.querySelector('video');
    return v && v.buffered.length > 0 && v.readyState >= 3 ? s.dataset.video : false;
  }, null, { timeout: 20000 });
  out.forYouNext = await next.jsonValue();
  await shot(viewer, 'feed-viewer-phone.png');

  begin('viewer swipes up');
  const swipedAt = Date.now();
  const cdp = await viewer.context().newCDPSession(viewer);
  for (const [type, y] of [['touchStart', 600], ['touchMove', 480], ['touchMove', 320], ['touchEnd']]) {
    await cdp.send('Input.dispatchTouchEvent', { type, touchPoints: y ? [{ x: 195, y }] : [] });
  }
  out.afterSwipe = await playing(viewer, out.forYouNext);
  out.swipes = await viewer.evaluate(() => window.reelay.swipes);
  // Its first segment, and its init, came from the edge before the swipe, and as hits.
  out.nextSegments = viewer.segments.filter((s) => s.video === out.forYouNext).map((s) => ({ ...s, afterSwipe: s.at >= swipedAt }));

  begin('viewer watches it to the end, then the keys and the wheel move back and forth');
  await viewer.waitForFunction(() => (window.reelay.events || []).some((e) => e.type === 'progress'), null, { timeout: 20000 });
  await viewer.keyboard.press('ArrowUp');
  out.afterKeyUp = await playing(viewer, out.forYouFirst);
  await viewer.mouse.move(195, 400);
  await viewer.mouse.wheel(0, 120);
  out.afterWheel = await playing(viewer, out.forYouNext);

  begin('desktop');
  const desktop = await newPage('desktop', { viewport: { width: 1280, height: 800 } });
  await desktop.goto(api + '/');
  await playing(desktop);
  await shot(desktop, 'feed-desktop.png');
  await desktop.context().close();

  begin('viewer\'s Following has the clip, and it plays');
  await viewer.click('[data-tab=following]');
  out.following = await playing(viewer, clipID);

  begin('viewer likes it; the like survives a reload');
  out.likesBefore = out.following.likes;
  const liked = viewer.waitForResponse((r) => r.url().endsWith(`/v1/videos/${clipID}/like`) && r.request().method() === 'PUT');
  await viewer.click('.slot.active .act.like');
  out.likeStatus = (await liked).status();
  out.afterLike = await active(viewer);
  await shot(viewer, 'following-liked-phone.png');
  await viewer.reload();
  out.afterReload = await playing(viewer, clipID);

  begin('comments');
  await viewer.click('.slot.active .act.comment');
  await viewer.fill('.comment-form input', 'Lovely pattern');
  await viewer.click('.comment-form button');
  await viewer.waitForSelector('.comment-list .comment');
  out.comment = await viewer.textContent('.comment-list .comment p');
  await shot(viewer, 'comments-phone.png');
  await viewer.click('.sheet.comments [aria-label=Close]');

  begin('viewer shares it: the link opens the video');
  await viewer.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: api });
  const shared = viewer.waitForResponse((r) => r.url().endsWith(`/v1/videos/${clipID}/shares`));
  await viewer.click('.slot.active .act.share');
  out.shareStatus = (await shared).status();
  await viewer.waitForFunction(() => document.querySelector('.slot.active [data-count=shares]').textContent === '1');
  out.sharedLink = await viewer.evaluate(() => navigator.clipboard.readText());
  const visitor = await newPage('visitor', phone);
  await visitor.goto(out.sharedLink);
  out.sharedPlays = await playing(visitor);
  await visitor.context().close();

  begin('viewer reports it');
  await viewer.click('.slot.active .act.report');
  const reported = viewer.waitForResponse((r) => r.url().endsWith(`/v1/videos/${clipID}/reports`));
  await viewer.click('.sheet.report [data-reason=spam]');
  out.reportStatus = (await reported).status();

  begin('the recommender\'s events reached the API');
  const want = ['impression', 'play', 'progress', 'complete', 'skip'];
  for (const deadline = Date.now() + 15000; !want.every((t) => out.events[t]);) {
    if (Date.now() > deadline) throw new Error(`events sent: ${JSON.stringify(out.events)}, want ${want}`);
    await viewer.waitForTimeout(100);
  }
  out.fatalErrors = [...(await fatal(creator)), ...(await fatal(viewer))];
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.failedAt = step;
  out.error = String(e && e.stack ? e.stack : e);
  for (const [name, page] of Object.entries(pages)) {
    if (page.isClosed()) continue;
    await page.screenshot({ path: join(shots, `failed-${name}.png`) }).catch(() => {});
    log(`${name} at ${page.url()} shows:`, await page.innerText('body').catch((err) => String(err)));
  }
} finally {
  console.log(JSON.stringify(out));
  await browser.close();
}
