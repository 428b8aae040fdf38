// upload.mjs: uploading a video from the browser with tus-js-client (window.tus, loaded by a
// classic script) to /v1/uploads/, as `reelay upload` does: the metadata filename, filetype,
// caption and visibility, the bearer token, 512 KiB chunks. A lost connection is ridden out:
// tus-js-client retries while the browser is online; offline, the upload waits for the
// browser to be back and resumes from the offset the server has (HEAD). Then the video's
// status is polled until it plays. An upload goes on while the creator browses elsewhere in
// the page; their profile shows it, with its status, from its creation on.

import { html, useEffect, useRef, useState } from '/assets/vendor/preact-htm.mjs';
import { api, session } from './api.mjs';
import { Icon, toast } from './ui.mjs';

const UPLOADS_KEY = 'reelay.uploads';
const CHUNK = 512 << 10; // what a lost connection may cost again

// pendingUploads are the uploads this browser made that have not been seen ready yet:
// [{id, caption, at}].
export function pendingUploads() {
  try {
    return JSON.parse(localStorage.getItem(UPLOADS_KEY)) || [];
  } catch {
    return [];
  }
}

function rememberUpload(u) {
  localStorage.setItem(UPLOADS_KEY, JSON.stringify([u, ...pendingUploads().filter((x) => x.id !== u.id)].slice(0, 50)));
}

export function forgetUpload(id) {
  localStorage.setItem(UPLOADS_KEY, JSON.stringify(pendingUploads().filter((x) => x.id !== id)));
}

// offline holds the uploads that stopped because the browser went offline: they resume,
// from the offset the server has, when it is back online.
const offline = new Set();
addEventListener('online', () => {
  for (const up of offline) up.start();
  offline.clear();
});

// statusLabel says where a video (GET /v1/videos/{id}) is.
export function statusLabel(v) {
  if (!v) return 'Uploading';
  switch (v.status) {
    case 'uploading': return `Uploading ${v.progress}%`;
    case 'processing': return v.playable ? `Playable · processing ${v.progress}%` : v.progress ? `Processing ${v.progress}%` : 'Processing…';
    case 'ready': return 'Ready';
    case 'failed': return 'Failed';
  }
  return v.status;
}

export function Upload({ auth }) {
  const [file, setFile] = useState(null);
  const [caption, setCaption] = useState('');
  const [visibility, setVisibility] = useState('public');
  const [phase, setPhase] = useState('pick'); // pick | sending | waiting | done | failed
  const [sent, setSent] = useState(0);
  const [note, setNote] = useState('');
  const [video, setVideo] = useState(null);
  const [round, setRound] = useState(0); // a new file input for each upload
  const upload = useRef(null);

  useEffect(() => {
    if (!auth.user) auth.ask('to upload videos');
  }, [auth.user]);

  useEffect(() => {
    const online = () => phase === 'sending' && setNote('Back online. Resuming…');
    addEventListener('online', online);
    return () => removeEventListener('online', online);
  }, [phase]);

  const start = (e) => {
    e.preventDefault();
    if (!file) return;
    auth.need('to upload videos', () => {
      setPhase('sending');
      setNote('');
      setSent(0);
      const up = new window.tus.Upload(file, {
        endpoint: '/v1/uploads/',
        chunkSize: CHUNK,
        retryDelays: [0, 1000, 2000, 4000, 8000, 15000, 30000],
        metadata: { filename: file.name, filetype: file.type || 'application/octet-stream', caption, visibility },
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: true,
        onBeforeRequest: (req) => {
          const s = session();
          if (s) req.setHeader('Authorization', `Bearer ${s.token}`);
        },
        onProgress: (bytes, total) => {
          setSent(total ? bytes / total : 0);
        },
        onChunkComplete: () => setNote(''),
        // Known from the creation on: the profile shows it while it uploads.
        onUploadUrlAvailable: () => rememberUpload({ id: up.url.split('/').filter(Boolean).pop(), caption, at: new Date().toISOString() }),
        onShouldRetry: (err, attempt) => {
          const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
          if (status >= 400 && status < 500 && status !== 409 && status !== 423 && status !== 429) return false;
          setNote(navigator.onLine ? `Connection lost. Retrying (${attempt + 1})…` : 'Offline. The upload resumes when you are back.');
          return navigator.onLine;
        },
        onError: (err) => {
          if (!navigator.onLine) {
            setNote('Offline. The upload resumes when you are back.');
            offline.add(up);
            return;
          }
          const body = err.originalResponse?.getBody?.();
          let msg = String(err.message || err);
          try {
            msg = JSON.parse(body).error.message || msg;
          } catch {
            // not the API's error body
          }
          setNote(msg);
          setPhase('failed');
        },
        onSuccess: () => {
          const id = up.url.split('/').filter(Boolean).pop();
          rememberUpload({ id, caption, at: new Date().toISOString() });
          setSent(1);
          setNote('');
          setPhase('waiting');
          poll(id);
        },
      });
      upload.current = up;
      up.findPreviousUploads().then((prev) => {
        if (prev.length) up.resumeFromPreviousUpload(prev[0]);
        up.start();
      });
    });
  };

  const poll = async (id) => {
    try {
      const v = await api('GET', '/v1/videos/' + id);
      setVideo(v);
      if (v.status === 'ready') return setPhase('done');
      if (v.status === 'failed') return setPhase('failed');
    } catch (e) {
      if (e.status === 404 || e.status === 410) {
        setNote(e.message);
        return setPhase('failed');
      }
    }
    setTimeout(() => poll(id), 700);
  };

  const pct = Math.round(sent * 100);
  return html`<div class="page upload" data-phase=${phase}>
    <header class="page-head"><a class="icon-btn" href="#/" aria-label="Back"><${Icon} name="back" /></a><span>Upload a video</span><span></span></header>
    <form class="upload-form" onSubmit=${start}>
      <label class=${'drop' + (file ? ' has-file' : '')}>
        <input key=${round} type="file" name="video" accept="video/*" disabled=${phase !== 'pick' && phase !== 'failed'}
          onChange=${(e) => { setFile(e.target.files[0] || null); setPhase('pick'); setVideo(null); }} />
        <${Icon} name="upload" size="40" />
        <b>${file ? file.name : 'Select a video'}</b>
        <span class="muted">${file ? `${(file.size / 1048576).toFixed(1)} MB` : 'MP4, MOV or WebM, vertical looks best'}</span>
      </label>
      <label class="field"><span>Caption</span>
        <textarea name="caption" rows="3" maxlength="2200" placeholder="Describe your video. #hashtags help people find it."
          value=${caption} onInput=${(e) => setCaption(e.target.value)}></textarea></label>
      <label class="field"><span>Who can watch</span>
        <select name="visibility" value=${visibility} onChange=${(e) => setVisibility(e.target.value)}>
          <option value="public">Everyone</option><option value="unlisted">Anyone with the link</option><option value="private">Only me</option>
        </select></label>
      ${phase === 'pick' || phase === 'failed'
        ? html`<button class="btn primary wide" type="submit" disabled=${!file}>Post</button>`
        : null}
    </form>
    ${phase !== 'pick' ? html`<div class="upload-status">
      <div class="row"><span data-upload="bytes">${phase === 'sending' ? `Uploading ${pct}%` : 'Uploaded'}</span>
        <span class="muted">${file ? `${((sent * file.size) / 1048576).toFixed(1)} / ${(file.size / 1048576).toFixed(1)} MB` : ''}</span></div>
      <div class="meter"><i style=${`width:${pct}%`}></i></div>
      ${video ? html`<div class="row"><span data-upload="status" data-status=${video.status} data-playable=${video.playable ? 'true' : 'false'}>${statusLabel(video)}</span>
        ${video.playable ? html`<a class="btn primary" href=${'#/v/' + video.id} data-action="watch">Watch</a>` : null}</div>
        ${video.status === 'processing' ? html`<div class="meter thin"><i style=${`width:${video.progress}%`}></i></div>` : null}` : null}
      ${video && video.error ? html`<p class="error">${video.error.message}</p>` : null}
      ${note ? html`<p class="note" data-upload="note">${note}</p>` : null}
      ${phase === 'done' ? html`<p class="muted">It is in your profile. <a href=${'#/@' + auth.user?.handle}>See it</a></p>
        <button class="btn wide" data-action="another" onClick=${() => { setFile(null); setCaption(''); setPhase('pick'); setVideo(null); setSent(0); setRound((r) => r + 1); upload.current = null; }}>Upload another</button>` : null}
    </div>` : null}
  </div>`;
}
