// profile.mjs: a creator's page: their counts, a follow button, and a grid of their videos'
// posters. Your own page lists every video of yours from the API (GET /v1/me/videos), each
// with its status (processing with its percent, ready, failed with the reason) and
// visibility, read again while one is on its way; before those come the uploads this browser
// is still sending, which are not videos yet (kept in localStorage until the API lists them).

import { html, useEffect, useRef, useState } from '/assets/vendor/preact-htm.mjs';
import { api, compact, logout } from './api.mjs';
import { Avatar, Icon, toast } from './ui.mjs';
import { pendingUploads, forgetUpload, statusLabel } from './upload.mjs';

export function Profile({ handle, auth }) {
  const [profile, setProfile] = useState(null);
  const [videos, setVideos] = useState(null);
  const [error, setError] = useState('');
  const own = auth.user && auth.user.handle === handle;

  // load (re)reads the profile; only the answers to the latest load are shown, so that one
  // sent before a follow cannot undo it when it arrives after.
  const seq = useRef(0);
  const load = () => {
    const n = ++seq.current;
    api('GET', `/v1/users/${handle}`).then((p) => n === seq.current && setProfile(p), (e) => n === seq.current && setError(e.message));
    const list = own ? '/v1/me/videos?limit=60' : `/v1/users/${handle}/videos?limit=60`;
    api('GET', list).then((r) => {
      if (n !== seq.current) return;
      setVideos(r.items);
      if (own) for (const v of r.items) forgetUpload(v.id); // the API tells its status from now on
    }, () => n === seq.current && setVideos([]));
  };
  useEffect(() => {
    setProfile(null);
    setVideos(null);
    setError('');
  }, [handle]);
  useEffect(load, [handle, auth.user?.handle]);
  // While one of your videos is processing, its status and percent are read again.
  const busy = own && (videos || []).some((v) => v.status === 'processing');
  useEffect(() => {
    if (!busy) return;
    const timer = setTimeout(load, 1500);
    return () => clearTimeout(timer);
  }, [busy, videos]);

  const follow = () => auth.need('to follow creators', async () => {
    const want = !profile.following;
    seq.current++; // what is on its way is out of date
    try {
      const r = await api(want ? 'PUT' : 'DELETE', `/v1/users/${handle}/follow`);
      setProfile((p) => p && { ...p, following: r.following, follower_count: r.followers });
    } catch (e) {
      toast(e.message);
    }
    load();
  });

  if (error) return html`<div class="page profile"><div class="empty-msg"><h2>${error}</h2><a class="btn" href="#/">Back to the feed</a></div></div>`;
  if (!profile) return html`<div class="page profile"><div class="spinner"></div></div>`;
  const listed = new Set((videos || []).map((v) => v.id));
  const sending = own ? pendingUploads().filter((u) => !listed.has(u.id)) : [];
  return html`<div class="page profile" data-handle=${handle}>
    <header class="page-head"><a class="icon-btn" href="#/" aria-label="Back"><${Icon} name="back" /></a><span>@${handle}</span>
      ${own ? html`<button class="link" onClick=${() => logout().then(() => (location.hash = '#/'))}>Log out</button>` : html`<span></span>`}</header>
    <div class="profile-top">
      <${Avatar} user=${profile} size="96" />
      <h1>${profile.display_name || '@' + profile.handle}</h1>
      ${profile.display_name ? html`<p class="muted">@${profile.handle}</p>` : null}
      <div class="stats">
        <div><b data-count="following">${compact(profile.following_count)}</b><span>Following</span></div>
        <div><b data-count="followers">${compact(profile.follower_count)}</b><span>Followers</span></div>
        <div><b data-count="videos">${compact(profile.video_count)}</b><span>Videos</span></div>
      </div>
      ${own
        ? html`<a class="btn primary" href="#/upload"><${Icon} name="upload" size="18" /> Upload</a>`
        : html`<button class=${'btn ' + (profile.following ? '' : 'primary')} data-action="follow" onClick=${follow}>${profile.following ? 'Following' : 'Follow'}</button>`}
      ${profile.bio ? html`<p class="bio">${profile.bio}</p>` : null}
    </div>
    <div class="grid">
      ${sending.map((u) => html`<${PendingTile} key=${u.id} upload=${u} onVideo=${load} />`)}
      ${(videos || []).map((v) => (!own || v.status === 'ready') ? html`<a class="tile" key=${v.id} href=${'#/v/' + v.id} data-video=${v.id} data-status="ready">
        <img src=${v.poster_url} alt="" loading="lazy" />
        ${own ? html`<span class="badge ok">${v.visibility === 'public' ? 'Ready' : visibilityLabel[v.visibility]}</span>` : null}
        <span class="views">▷ ${compact(v.counts.views)}</span></a>` : html`<${StatusTile} key=${v.id} video=${v} />`)}
    </div>
    ${videos && videos.length === 0 && !sending.length ? html`<p class="muted center">${own ? 'Your videos will show up here.' : 'No videos yet.'}</p>` : null}
  </div>`;
}

const visibilityLabel = { unlisted: 'Unlisted', private: 'Private' };

// StatusTile is one of your videos that is not ready: processing, with its percent (it plays
// once playable), or failed, with the reason.
function StatusTile({ video: v }) {
  return html`<a class="tile pending" href=${v.playable ? '#/v/' + v.id : undefined} data-video=${v.id} data-status=${v.status}>
    <div class="tile-blank"><span>${v.caption || 'Your video'}</span></div>
    <span class=${'badge ' + v.status}>${statusLabel(v)}</span>
    ${v.status === 'processing' ? html`<div class="tile-meter"><i style=${`width:${v.progress}%`}></i></div>` : null}
    ${v.status === 'failed' ? html`<span class="reason">${v.error?.message}</span>` : null}
  </a>`;
}

// PendingTile is an upload this browser is sending, not a video yet: its status, polled
// until it is a video (onVideo then reads the list, which has it) or it failed.
function PendingTile({ upload, onVideo }) {
  const [v, setV] = useState(null);
  useEffect(() => {
    let stop = false, timer = 0;
    const poll = async () => {
      try {
        const got = await api('GET', '/v1/videos/' + upload.id);
        if (stop) return;
        setV(got);
        if (got.status !== 'uploading') {
          onVideo(); // a video, or refused: the list has it, or this tile shows why
          if (got.status === 'failed') return;
        }
      } catch (e) {
        if (e.status === 404 || e.status === 410) return forgetUpload(upload.id);
      }
      if (!stop) timer = setTimeout(poll, 1000);
    };
    poll();
    return () => { stop = true; clearTimeout(timer); };
  }, [upload.id]);
  const status = v ? v.status : 'uploading';
  return html`<a class="tile pending" href=${v && v.playable ? '#/v/' + upload.id : '#/upload'} data-video=${upload.id} data-status=${status}>
    ${v && v.playable && v.poster_url ? html`<img src=${v.poster_url} alt="" onError=${(e) => e.target.remove()} />` : html`<div class="tile-blank"><span>${upload.caption || 'Your video'}</span></div>`}
    <span class=${'badge ' + status}>${statusLabel(v)}</span>
    ${v && v.status === 'failed' ? html`<span class="reason">${v.error?.message}</span>` : null}
  </a>`;
}
