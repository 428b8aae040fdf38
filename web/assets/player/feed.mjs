// feed.mjs: the full-screen vertical feed, one video at a time: For You, Following, or a
// shared video followed by For You. Swipes, the arrow keys and the mouse wheel move to the
// next or previous video. Three slots are mounted at most: the previous video (paused), the
// current one, and the next one, which preloads once the current one plays.

import { html, useCallback, useEffect, useRef, useState } from '/assets/vendor/preact-htm.mjs';
import { api, ApiError, compact, session, shareLink } from './api.mjs';
import { Clip, stats } from './clip.mjs';
import { track } from './events.mjs';
import { Avatar, Caption, Icon, Sheet, ago, toast } from './ui.mjs';

const PAGE = 10;

// source: "foryou", "following", or "video:{id}".
export function Feed({ source, auth, muted, setMuted }) {
  const [items, setItems] = useState([]);
  const [idx, setIdx] = useState(0);
  const [status, setStatus] = useState('loading'); // loading | ok | empty | error | login
  const [preload, setPreload] = useState(-1); // the furthest index that played: the one after it may preload
  const [sheet, setSheet] = useState(null); // {kind: comments|report, id}
  const page = useRef({ cursor: '', done: false, busy: false, seen: new Set() });
  const swipe = useRef(null);
  const stage = useRef();
  const update = useCallback((id, patch) => setItems((xs) => xs.map((x) => (x.id === id ? { ...x, ...patch(x) } : x))), []);
  const updateCreator = useCallback((handle, following) =>
    setItems((xs) => xs.map((x) => (x.creator.handle === handle ? { ...x, following } : x))), []);

  const loadMore = useCallback(async () => {
    const p = page.current;
    if (p.busy || p.done) return;
    p.busy = true;
    try {
      let got = [];
      if (source.startsWith('video:') && p.seen.size === 0 && !p.first) {
        p.first = true;
        const v = await api('GET', '/v1/videos/' + source.slice(6));
        if (v.playable) got.push({ ...v, published_at: v.created_at });
      }
      const path = source === 'following' ? '/v1/feed/following' : '/v1/feed/foryou';
      const q = `?limit=${PAGE}` + (p.cursor ? '&cursor=' + encodeURIComponent(p.cursor) : '');
      const list = await api('GET', path + q);
      p.cursor = list.next_cursor;
      p.done = !list.next_cursor;
      got = got.concat(list.items).filter((it) => !p.seen.has(it.id) && (p.seen.add(it.id), true));
      if (got.length) setItems((xs) => xs.concat(got));
      setStatus((s) => (got.length || s === 'ok' ? 'ok' : 'empty'));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) setStatus('login');
      else {
        setStatus((s) => (s === 'ok' ? s : 'error'));
        if (!(e instanceof ApiError) || e.status !== 404) toast(e.message);
      }
    } finally {
      p.busy = false;
    }
  }, [source]);

  // The feed loads when it is shown, and the Following feed again at each login. For You
  // goes on playing across a login: the videos loaded so far get the viewer's likes and
  // follows, except those the viewer changed since (a like that asked them to log in).
  useEffect(() => {
    page.current = { cursor: '', done: false, busy: false, seen: new Set() };
    setItems([]);
    setIdx(0);
    setPreload(-1);
    if (source === 'following' && !auth.user) setStatus('login');
    else {
      setStatus('loading');
      loadMore();
    }
  }, [source, source === 'following' ? auth.user?.handle : '']);
  const edited = useRef(new Set());
  const idxRef = useRef(0);
  idxRef.current = idx;
  useEffect(() => {
    if (source === 'following' || !auth.user) return;
    const around = items.slice(Math.max(0, idxRef.current - 1), idxRef.current + 6);
    for (const it of around) {
      api('GET', '/v1/videos/' + it.id).then((v) => {
        if (!edited.current.has(it.id)) update(it.id, () => ({ liked: v.liked, following: v.following, counts: v.counts }));
      }, () => {});
    }
  }, [auth.user?.handle]);

  useEffect(() => {
    if (items.length && idx >= items.length - 3) loadMore();
  }, [idx, items.length]);

  // An empty feed looks again every few seconds, until new videos come (a fresh
  // `reelay up --demo` has its first ones a minute or so after the page opens).
  useEffect(() => {
    if (status !== 'empty') return;
    const t = setInterval(() => {
      page.current.done = false;
      loadMore();
    }, 3000);
    return () => clearInterval(t);
  }, [status]);

  const go = useCallback((d, input) => {
    setIdx((i) => {
      const n = i + d;
      if (n < 0 || n >= items.length) return i;
      swipe.current = { from: items[i].id, at: performance.now(), input };
      return n;
    });
  }, [items]);

  // Keys, wheel and touch.
  useEffect(() => {
    const blocked = (e) => sheet || /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName) || document.querySelector('.backdrop');
    const key = (e) => {
      if (blocked(e)) return;
      if (e.key === 'ArrowDown' || e.key === 'PageDown' || e.key === 'j') { e.preventDefault(); go(1, 'key'); }
      if (e.key === 'ArrowUp' || e.key === 'PageUp' || e.key === 'k') { e.preventDefault(); go(-1, 'key'); }
      if (e.key === 'm') setMuted((m) => !m);
    };
    let wheelSum = 0, wheelUntil = 0, wheelReset = 0;
    const wheel = (e) => {
      if (blocked(e)) return;
      e.preventDefault();
      const now = performance.now();
      clearTimeout(wheelReset);
      wheelReset = setTimeout(() => (wheelSum = 0), 200);
      if (now < wheelUntil) return; // one move per flick of the wheel
      wheelSum += e.deltaY;
      if (Math.abs(wheelSum) >= 40) {
        go(Math.sign(wheelSum), 'wheel');
        wheelSum = 0;
        wheelUntil = now + 450;
      }
    };
    let t0 = null;
    const start = (e) => {
      if (e.touches.length !== 1 || blocked(e)) return (t0 = null);
      t0 = { y: e.touches[0].clientY, x: e.touches[0].clientX, at: performance.now() };
    };
    const end = (e) => {
      if (!t0) return;
      const t = e.changedTouches[0];
      const dy = t.clientY - t0.y, dx = t.clientX - t0.x, dt = performance.now() - t0.at;
      t0 = null;
      if (Math.abs(dy) > Math.abs(dx) && (Math.abs(dy) > 80 || (Math.abs(dy) > 30 && dt < 250))) go(dy < 0 ? 1 : -1, 'touch');
    };
    const el = stage.current;
    addEventListener('keydown', key);
    el?.addEventListener('wheel', wheel, { passive: false });
    el?.addEventListener('touchstart', start, { passive: true });
    el?.addEventListener('touchend', end, { passive: true });
    return () => {
      removeEventListener('keydown', key);
      el?.removeEventListener('wheel', wheel);
      el?.removeEventListener('touchstart', start);
      el?.removeEventListener('touchend', end);
    };
  }, [go, sheet, status]);


  if (status !== 'ok') {
    const msg = {
      loading: html`<div class="spinner" aria-label="Loading"></div>`,
      empty: source === 'following'
        ? html`<h2>Nothing here yet</h2><p>Follow creators to see their newest videos here.</p>`
        : html`<h2>No videos yet</h2><p>Be the first: upload one.</p><a class="btn primary" href="#/upload">Upload</a>`,
      error: html`<h2>Couldn't load the feed</h2><button class="btn" onClick=${() => { setStatus('loading'); loadMore(); }}>Try again</button>`,
      login: html`<h2>Following</h2><p>Log in to watch the creators you follow.</p>
        <button class="btn primary" onClick=${() => auth.ask('to see who you follow')}>Log in</button>`,
    }[status];
    return html`<div class="stage empty" ref=${stage} data-feed=${source} data-status=${status}><div class="empty-msg">${msg}</div></div>`;
  }

  const sheetItem = sheet && items.find((x) => x.id === sheet.id);
  const shown = [];
  for (let i = Math.max(0, idx - 1); i <= Math.min(items.length - 1, idx + 1); i++) {
    if (i === idx + 1 && preload < idx) continue; // the next one waits for the current one to play
    shown.push(i);
  }
  return html`<div class="stage" ref=${stage} data-feed=${source} data-status="ok" data-index=${idx}>
    ${shown.map((i) => html`<${Slot} key=${items[i].id} item=${items[i]} offset=${i - idx} position=${i}
      active=${i === idx} muted=${muted} setMuted=${setMuted} auth=${auth} swipe=${i === idx ? swipe : null}
      onPlaying=${i === idx ? () => setPreload((p) => Math.max(p, i)) : null} update=${(id, patch) => { edited.current.add(id); update(id, patch); }} updateCreator=${updateCreator}
      openSheet=${(kind) => setSheet({ kind, id: items[i].id })} />`)}
    ${sheetItem && sheet.kind === 'comments' ? html`<${Comments} item=${sheetItem} auth=${auth} onClose=${() => setSheet(null)}
        onCount=${(n) => update(sheetItem.id, (x) => ({ counts: { ...x.counts, comments: n } }))} />` : null}
    ${sheetItem && sheet.kind === 'report' ? html`<${Report} item=${sheetItem} onClose=${() => setSheet(null)} />` : null}
  </div>
  <div class="feed-arrows">
    ${idx > 0 ? html`<button class="nav-arrow up" aria-label="Previous video" onClick=${() => go(-1, 'button')}><${Icon} name="back" /></button>` : null}
    ${idx < items.length - 1 ? html`<button class="nav-arrow down" aria-label="Next video" onClick=${() => go(1, 'button')}><${Icon} name="back" /></button>` : null}
  </div>`;
}

// Slot is one video of the feed, at offset screens from the current one.
function Slot({ item, offset, position, active, muted, setMuted, auth, swipe, onPlaying, update, updateCreator, openSheet }) {
  const video = useRef();
  const clip = useRef();
  const [state, setState] = useState('loading');
  const [progress, setProgress] = useState(0);
  const playingRef = useRef(onPlaying);
  playingRef.current = onPlaying;

  useEffect(() => {
    const c = new Clip(item, video.current, (s) => {
      setState(s);
      if (s === 'playing') playingRef.current?.();
    });
    clip.current = c;
    return () => c.destroy();
  }, [item.id]);

  useEffect(() => {
    if (active) {
      const s = swipe?.current;
      if (swipe) swipe.current = null;
      clip.current.activate(position, s);
    } else {
      clip.current.deactivate();
    }
  }, [active]);

  useEffect(() => {
    video.current.muted = muted;
  }, [muted]);

  useEffect(() => {
    const v = video.current;
    const onTime = () => active && v.duration && setProgress(v.currentTime / v.duration);
    const onMuted = () => setMuted(true);
    v.addEventListener('timeupdate', onTime);
    v.addEventListener('autoplay-muted', onMuted);
    return () => {
      v.removeEventListener('timeupdate', onTime);
      v.removeEventListener('autoplay-muted', onMuted);
    };
  }, [active]);

  const self = auth.user && auth.user.handle === item.creator.handle;
  const like = () => auth.need('to like videos', async () => {
    const liked = !item.liked;
    update(item.id, (x) => ({ liked, counts: { ...x.counts, likes: Math.max(0, x.counts.likes + (liked ? 1 : -1)) } }));
    try {
      const r = await api(liked ? 'PUT' : 'DELETE', `/v1/videos/${item.id}/like`);
      update(item.id, (x) => ({ liked: r.liked, counts: { ...x.counts, likes: r.likes } }));
    } catch (e) {
      update(item.id, () => ({ liked: item.liked, counts: item.counts }));
      toast(e.message);
    }
  });
  const follow = () => auth.need('to follow creators', async () => {
    try {
      const r = await api('PUT', `/v1/users/${item.creator.handle}/follow`);
      updateCreator(item.creator.handle, r.following);
      toast(`Following @${item.creator.handle}`);
    } catch (e) {
      toast(e.message);
    }
  });
  const share = async () => {
    const link = shareLink(item.id);
    await copy(link);
    toast('Link copied');
    if (session()) {
      try {
        const r = await api('POST', `/v1/videos/${item.id}/shares`);
        update(item.id, (x) => ({ counts: { ...x.counts, shares: r.shares } }));
      } catch {
        // the link is copied all the same
      }
    }
  };
  const portrait = item.height >= item.width;
  return html`<section class=${'slot' + (active ? ' active' : '')} style=${`transform:translateY(${offset * 100}%)`}
      data-video=${item.id} data-state=${state} aria-hidden=${active ? 'false' : 'true'}>
    <video ref=${video} class=${portrait ? 'cover' : 'contain'} playsinline muted=${muted} poster=${item.poster_url}
      onClick=${() => clip.current.toggle()}></video>
    ${state === 'paused' && active ? html`<div class="paused-mark" onClick=${() => clip.current.toggle()}><${Icon} name="play" size="64" /></div>` : null}
    ${state === 'loading' && active ? html`<div class="spinner small"></div>` : null}
    ${state === 'failed' ? html`<div class="failed-mark">This video can't be played right now.</div>` : null}
    <div class="shade"></div>
    <aside class="rail">
      <div class="creator-btn">
        <a href=${'#/@' + item.creator.handle} aria-label=${'@' + item.creator.handle}><${Avatar} user=${item.creator} size="48" /></a>
        ${!self && !item.following ? html`<button class="follow-badge" aria-label=${'Follow @' + item.creator.handle} onClick=${follow}><${Icon} name="plus" size="16" /></button>` : null}
      </div>
      <button class=${'act like' + (item.liked ? ' on' : '')} aria-label=${item.liked ? 'Unlike' : 'Like'} aria-pressed=${item.liked ? 'true' : 'false'} onClick=${like}>
        <${Icon} name="heart" size="34" /><span class="count" data-count="likes">${compact(item.counts.likes)}</span></button>
      <button class="act comment" aria-label="Comments" onClick=${() => openSheet('comments')}>
        <${Icon} name="comment" size="32" /><span class="count" data-count="comments">${compact(item.counts.comments)}</span></button>
      <button class="act share" aria-label="Share" onClick=${share}>
        <${Icon} name="share" size="32" /><span class="count" data-count="shares">${compact(item.counts.shares)}</span></button>
      <button class="act report" aria-label="Report" onClick=${() => auth.need('to report videos', () => openSheet('report'))}>
        <${Icon} name="flag" size="26" /><span class="count">Report</span></button>
    </aside>
    <div class="meta">
      <a class="handle" href=${'#/@' + item.creator.handle}>@${item.creator.handle}</a>
      ${item.creator.display_name ? html`<span class="display-name">${item.creator.display_name}</span>` : null}
      <span class="when">· ${ago(item.published_at || item.created_at)}</span>
      <${Caption} text=${item.caption} />
      <p class="sound">♫ original sound · ${item.creator.handle}</p>
    </div>
    <button class="mute" aria-label=${muted ? 'Unmute' : 'Mute'} onClick=${() => setMuted(!muted)}><${Icon} name=${muted ? 'muted' : 'sound'} size="20" /></button>
    ${active ? html`<div class="bar"><i style=${`width:${(progress * 100).toFixed(2)}%`}></i></div>` : null}
  </section>`;
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    return;
  } catch {
    // no permission (or an insecure context): the old way
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.style.cssText = 'position:fixed;opacity:0';
  document.body.appendChild(ta);
  ta.select();
  document.execCommand('copy');
  ta.remove();
}

function Comments({ item, auth, onClose, onCount }) {
  const [list, setList] = useState(null);
  const [body, setBody] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api('GET', `/v1/videos/${item.id}/comments?limit=50`).then((r) => setList(r.items), (e) => { setList([]); toast(e.message); });
  }, [item.id]);
  const send = (e) => {
    e.preventDefault();
    const text = body.trim();
    if (!text) return;
    auth.need('to comment', async () => {
      setBusy(true);
      try {
        const c = await api('POST', `/v1/videos/${item.id}/comments`, { body: text });
        setList((l) => [c, ...(l || [])]);
        onCount(item.counts.comments + 1);
        setBody('');
      } catch (err) {
        toast(err.message);
      } finally {
        setBusy(false);
      }
    });
  };
  return html`<${Sheet} title=${item.counts.comments === 1 ? "1 comment" : `${compact(item.counts.comments)} comments`} onClose=${onClose} cls="comments">
    <ul class="comment-list">
      ${list === null ? html`<li class="muted">Loading…</li>` : list.length === 0 ? html`<li class="muted">No comments yet. Say something nice.</li>` : null}
      ${(list || []).map((c) => html`<li key=${c.id} class="comment"><${Avatar} user=${c.author} size="32" />
        <div><a class="who" href=${'#/@' + c.author.handle} onClick=${onClose}>@${c.author.handle}</a> <span class="muted">${ago(c.created_at)}</span>
        <p>${c.body}</p></div></li>`)}
    </ul>
    <form class="comment-form" onSubmit=${send}>
      <input name="comment" placeholder=${auth.user ? 'Add a comment…' : 'Log in to comment'} maxlength="500" value=${body}
        onInput=${(e) => setBody(e.target.value)} autocomplete="off" />
      <button class="btn primary" disabled=${busy || !body.trim()}>Post</button>
    </form>
  <//>`;
}

const REASONS = [['spam', 'Spam'], ['nudity', 'Nudity or sexual content'], ['violence', 'Violence'], ['harassment', 'Harassment or bullying'],
  ['hate', 'Hate speech'], ['misinformation', 'Misinformation'], ['other', 'Something else']];

function Report({ item, onClose }) {
  const send = async (reason) => {
    try {
      await api('POST', `/v1/videos/${item.id}/reports`, { reason });
      toast('Thanks. We will review this video.');
      track('not_interested', item.id);
    } catch (e) {
      toast(e.status === 409 ? 'You already reported this video.' : e.message);
    }
    onClose();
  };
  return html`<${Sheet} title="Report" onClose=${onClose} cls="report">
    <p class="muted pad">Why are you reporting this video?</p>
    <ul class="choices">${REASONS.map(([r, label]) => html`<li key=${r}><button data-reason=${r} onClick=${() => send(r)}>${label}</button></li>`)}</ul>
  <//>`;
}
