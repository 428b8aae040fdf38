// clip.mjs: one video of the feed in its <video> element, played through hls.js (or the
// browser's own HLS where there is no MediaSource, as on iPhones). A clip is made when its
// slot is mounted: the current one, and the next one, which preloads its playlists, init
// segments and first segments into its element, paused, while the current one plays, so that
// a swipe only has to call play(). It sends the recommender's watch events while it is the
// current one.

import Hls from '/assets/vendor/hls.min.mjs';
import { track } from './events.mjs';

// PRELOAD_SECONDS is how much of the next video is buffered ahead: its first segment or two,
// which are what the edges' next-swipe prefetch warms (recommender/prefetch: 2 segments).
const PRELOAD_SECONDS = 3;
const PLAY_SECONDS = 30;
const PROGRESS_EVERY_MS = 5000;
const MAX_RECOVERIES = 3;

// stats is what the page measured, for whoever looks (the end-to-end test does): each swipe's
// start-up time and hls.js's errors.
export const stats = (window.reelay ||= {});
stats.swipes ||= [];
stats.errors ||= [];

// lastRendition is the rendition the viewer last played, which the next clips start with, as
// the prefetch hints name it too (the play and progress events carry it).
let lastRendition = '';

// renditionName is the name of an hls.js level: the directory of its media playlist
// (".../{generation}/360p/index.m3u8" is 360p).
function renditionName(level) {
  if (!level) return '';
  const u = level.uri || (Array.isArray(level.url) ? level.url[0] : level.url) || '';
  const parts = u.split('?')[0].split('/');
  return parts.length >= 2 ? parts[parts.length - 2] : '';
}

export class Clip {
  // item is the feed's video; video its element; onState(state) hears of "loading", "ready"
  // (enough buffered to start), "playing", "paused" and "failed".
  constructor(item, video, onState) {
    this.item = item;
    this.video = video;
    this.onState = onState;
    this.active = false;
    this.watchMs = 0;
    this.reported = 0; // watch_ms at the last progress event
    this.completed = false;
    this.played = false;
    this.recoveries = 0;
    this.lastTime = 0;
    this.swipe = null; // the swipe that made this clip current, until it plays
    this.listen();
    video.preload = 'auto';
    if (Hls.isSupported()) {
      const hls = new Hls({
        autoStartLoad: false,
        maxBufferLength: PRELOAD_SECONDS,
        maxMaxBufferLength: PLAY_SECONDS * 2,
        backBufferLength: 10,
        startFragPrefetch: true,
      });
      this.hls = hls;
      hls.on(Hls.Events.MANIFEST_PARSED, () => {
        const i = hls.levels.findIndex((l) => renditionName(l) === lastRendition);
        if (i >= 0) hls.startLevel = i;
        hls.startLoad(0);
      });
      hls.on(Hls.Events.ERROR, (_, d) => this.error(d));
      hls.loadSource(item.playback_url);
      hls.attachMedia(video);
    } else {
      video.src = item.playback_url; // native HLS
    }
    this.state('loading');
  }

  state(s) {
    this.video.dataset.state = s;
    this.onState?.(s);
  }

  listen() {
    const v = this.video;
    this.handlers = {
      canplay: () => !this.active && this.video.dataset.state === 'loading' && this.state('ready'),
      playing: () => this.playing(),
      pause: () => this.active && this.state('paused'),
      timeupdate: () => this.tick(),
      ended: () => this.ended(),
      error: () => this.state('failed'),
    };
    for (const [k, f] of Object.entries(this.handlers)) v.addEventListener(k, f);
  }

  error(d) {
    stats.errors.push({ video: this.item.id, type: d.type, details: d.details, fatal: d.fatal });
    if (!d.fatal) return;
    if (this.recoveries++ < MAX_RECOVERIES) {
      if (d.type === Hls.ErrorTypes.NETWORK_ERROR) return this.hls.startLoad();
      if (d.type === Hls.ErrorTypes.MEDIA_ERROR) return this.hls.recoverMediaError();
    }
    this.state('failed');
  }

  rendition() {
    if (!this.hls) return '';
    const i = this.hls.currentLevel >= 0 ? this.hls.currentLevel : this.hls.loadLevel;
    return renditionName(this.hls.levels[i]);
  }

  // buffered is how many seconds are buffered from the current position.
  buffered() {
    const v = this.video;
    for (let i = 0; i < v.buffered.length; i++) {
      if (v.buffered.start(i) <= v.currentTime + 0.1 && v.currentTime < v.buffered.end(i)) {
        return v.buffered.end(i) - v.currentTime;
      }
    }
    return 0;
  }

  // activate makes the clip the current one at position in its feed; swipe, when the viewer
  // swiped to it, is {at: performance.now()} of the swipe.
  activate(position, swipe) {
    if (this.active) return;
    this.active = true;
    this.position = position;
    this.swipe = swipe ? { ...swipe, buffered: this.buffered() } : null;
    if (this.hls) this.hls.config.maxBufferLength = PLAY_SECONDS;
    track('impression', this.item.id, { position });
    this.play();
  }

  play() {
    const p = this.video.play();
    p?.catch((e) => {
      if (e.name === 'NotAllowedError' && !this.video.muted) {
        this.video.muted = true; // the browser allows muted autoplay only
        this.video.dispatchEvent(new Event('autoplay-muted', { bubbles: true }));
        this.video.play().catch(() => this.state('paused'));
      } else if (e.name !== 'AbortError') {
        this.state('paused');
      }
    });
  }

  toggle() {
    if (this.video.paused) this.play();
    else this.video.pause();
  }

  // deactivate is the viewer moving on: a skip unless they watched it to the end.
  deactivate() {
    if (!this.active) return;
    this.active = false;
    this.video.pause();
    if (!this.completed) {
      track('skip', this.item.id, { watchMs: this.watchMs, position: this.position });
    }
    this.watchMs = this.reported = 0;
    this.completed = this.played = false;
    this.swipe = null;
    if (this.hls) this.hls.config.maxBufferLength = PRELOAD_SECONDS;
    if (this.video.currentTime > 0) this.video.currentTime = 0;
    this.state('ready');
  }

  playing() {
    if (!this.active) return;
    this.state('playing');
    if (this.swipe) {
      const s = this.swipe;
      stats.swipes.push({ from: s.from, to: this.item.id, ms: Math.round(performance.now() - s.at), bufferedAtSwipe: s.buffered, input: s.input });
      this.swipe = null;
    }
    if (!this.played) {
      this.played = true;
      const rendition = this.rendition();
      if (rendition) lastRendition = rendition;
      track('play', this.item.id, { position: this.position, rendition });
    }
  }

  tick() {
    const t = this.video.currentTime;
    const d = t - this.lastTime;
    this.lastTime = t;
    if (!this.active || this.video.paused || d <= 0 || d > 1) return;
    this.watchMs += d * 1000;
    if (this.watchMs - this.reported >= PROGRESS_EVERY_MS) {
      this.reported = this.watchMs;
      track('progress', this.item.id, { watchMs: this.watchMs, position: this.position, rendition: this.rendition() });
    }
  }

  // ended loops the video, as the apps do; the first end is a complete.
  ended() {
    if (!this.active) return;
    if (!this.completed) {
      this.completed = true;
      track('complete', this.item.id, { watchMs: this.watchMs, position: this.position });
    }
    this.video.currentTime = 0;
    this.lastTime = 0;
    this.play();
  }

  destroy() {
    this.deactivate();
    for (const [k, f] of Object.entries(this.handlers)) this.video.removeEventListener(k, f);
    if (this.hls) this.hls.destroy();
    else this.video.removeAttribute('src');
  }
}
