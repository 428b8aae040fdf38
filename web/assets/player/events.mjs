// events.mjs: the events the recommender learns from (POST /v1/events, feed/events.go):
// impression, play, progress, complete and skip, batched and sent every few seconds, at once
// when the batch is full, and with keepalive when the page is hidden.

import { api, session, visitor } from './api.mjs';

const MAX_BATCH = 100; // feed.MaxEvents
const FLUSH_MS = 2000;

let queue = [];
let timer = 0;

// track queues one event of video: type, and the optional watch_ms, position and rendition.
export function track(type, video, extra = {}) {
  const e = { video, type, at: new Date().toISOString() };
  if (extra.watchMs > 0) e.watch_ms = Math.min(Math.round(extra.watchMs), 6 * 3600 * 1000);
  if (extra.position > 0) e.position = Math.min(extra.position, 100000);
  if (extra.rendition && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(extra.rendition)) e.rendition = extra.rendition;
  queue.push(e);
  (window.reelay ||= {}).events ||= [];
  window.reelay.events.push(e);
  if (queue.length >= MAX_BATCH) flush();
  else if (!timer) timer = setTimeout(flush, FLUSH_MS);
}

// flush sends what is queued. Events of a video the API does not know (deleted since) are
// dropped with their batch rather than retried for ever.
export function flush(keepalive = false) {
  clearTimeout(timer);
  timer = 0;
  if (queue.length === 0) return Promise.resolve();
  const events = queue.splice(0, MAX_BATCH);
  const body = { events };
  if (!session()) body.visitor = visitor();
  return api('POST', '/v1/events', body, { keepalive }).catch((e) => {
    if (e.status === 429 || e.status >= 500) queue.unshift(...events); // try again later
    if (queue.length && !timer) timer = setTimeout(flush, FLUSH_MS * 2);
  });
}

addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') flush(true);
});
addEventListener('pagehide', () => flush(true));
