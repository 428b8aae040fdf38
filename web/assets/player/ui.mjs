// ui.mjs: the small pieces every view uses: icons, toasts, bottom sheets, avatars, captions.

import { html, useEffect, useState } from '/assets/vendor/preact-htm.mjs';

const paths = {
  heart: 'M12 21s-7.5-4.6-9.6-9.3C.9 8.2 3 4.5 6.6 4.5c2.1 0 3.7 1.2 5.4 3.1 1.7-1.9 3.3-3.1 5.4-3.1 3.6 0 5.7 3.7 4.2 7.2C19.5 16.4 12 21 12 21z',
  comment: 'M12 3.5c5.2 0 9.5 3.6 9.5 8.1 0 4.5-4.3 8.1-9.5 8.1-1.2 0-2.3-.2-3.4-.5L4 21l1.2-3.9C3.5 15.6 2.5 13.7 2.5 11.6 2.5 7.1 6.8 3.5 12 3.5z',
  share: 'M13.5 4.5 21 11.6l-7.5 7.1v-4.3c-5.3 0-8.6 1.5-11 5.1.8-5.4 3.6-9.6 11-10.6V4.5z',
  flag: 'M5 21V4h10.5l.6 2H20v9h-6.5l-.6-2H7v8H5z',
  home: 'M3 11.2 12 4l9 7.2V20h-6v-5.5H9V20H3v-8.8z',
  plus: 'M11 5h2v6h6v2h-6v6h-2v-6H5v-2h6z',
  user: 'M12 12.5a4.3 4.3 0 1 0 0-8.6 4.3 4.3 0 0 0 0 8.6zm0 1.8c-4.6 0-8.3 2.5-8.3 5.7V21h16.6v-1c0-3.2-3.7-5.7-8.3-5.7z',
  muted: 'M4 9h4l5-4.5v15L8 15H4V9zm12.3.3 1.4-1.4 2.1 2.1 2.1-2.1 1.4 1.4-2.1 2.1 2.1 2.1-1.4 1.4-2.1-2.1-2.1 2.1-1.4-1.4 2.1-2.1-2.1-2.1z',
  sound: 'M4 9h4l5-4.5v15L8 15H4V9zm11.5-1.6a6 6 0 0 1 0 9.2l-1.3-1.5a4 4 0 0 0 0-6.2l1.3-1.5zm2.6-2.9a9.8 9.8 0 0 1 0 15l-1.3-1.5a7.8 7.8 0 0 0 0-12l1.3-1.5z',
  play: 'M8 5v14l11-7z',
  close: 'M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6l5.6-5.6L5 6.4z',
  back: 'M15.4 5 8.4 12l7 7-1.4 1.4L5.6 12 14 3.6z',
  check: 'M9.5 16.2 5.3 12l-1.4 1.4 5.6 5.6L21 7.5l-1.4-1.4z',
  upload: 'M12 3 6.5 8.5l1.4 1.4 3.1-3.1V16h2V6.8l3.1 3.1 1.4-1.4L12 3zM5 18v2h14v-2H5z',
};

export function Icon({ name, size = 24, cls = '' }) {
  return html`<svg class=${'icon ' + cls} viewBox="0 0 24 24" width=${size} height=${size} aria-hidden="true"><path d=${paths[name]} /></svg>`;
}

// Toasts: toast(message) shows one for a few seconds.
let setToasts = null;
let toastID = 0;
export function toast(message) {
  const id = ++toastID;
  setToasts?.((ts) => [...ts, { id, message }]);
  setTimeout(() => setToasts?.((ts) => ts.filter((t) => t.id !== id)), 2600);
}

export function Toasts() {
  const [ts, set] = useState([]);
  useEffect(() => {
    setToasts = set;
    return () => (setToasts = null);
  }, []);
  return html`<div class="toasts" role="status">${ts.map((t) => html`<div class="toast" key=${t.id}>${t.message}</div>`)}</div>`;
}

// Sheet is a panel that slides up from the bottom of the column, over a dimmed backdrop.
export function Sheet({ title, onClose, children, cls = '' }) {
  useEffect(() => {
    const k = (e) => e.key === 'Escape' && onClose();
    addEventListener('keydown', k);
    return () => removeEventListener('keydown', k);
  }, [onClose]);
  return html`<div class="backdrop" onClick=${(e) => e.target === e.currentTarget && onClose()}>
    <div class=${'sheet ' + cls} role="dialog" aria-label=${title}>
      <header class="sheet-head"><span>${title}</span>
        <button class="icon-btn" aria-label="Close" onClick=${onClose}><${Icon} name="close" size="22" /></button></header>
      ${children}
    </div></div>`;
}

// Avatar is the user's picture, or their initial on a colour of their handle.
export function Avatar({ user, size = 48 }) {
  const h = user.handle || '?';
  if (user.avatar_url) {
    return html`<img class="avatar" src=${user.avatar_url} alt="" width=${size} height=${size} />`;
  }
  let hue = 0;
  for (const c of h) hue = (hue * 31 + c.charCodeAt(0)) % 360;
  const style = `width:${size}px;height:${size}px;font-size:${Math.round(size * 0.42)}px;background:hsl(${hue} 55% 42%)`;
  return html`<span class="avatar letter" style=${style}>${h[0].toUpperCase()}</span>`;
}

// Caption writes a caption with its hashtags and mentions highlighted.
export function Caption({ text }) {
  if (!text) return null;
  const parts = (text || '').split(/([#@][\p{L}\p{N}_]+)/u);
  return html`<p class="caption">${parts.map((p, i) =>
    i % 2 === 0 ? p : p[0] === '@' ? html`<a class="tag" href=${'#/' + p.toLowerCase()}>${p}</a>` : html`<b class="tag">${p}</b>`)}</p>`;
}

export function ago(iso) {
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (s < 60) return 'now';
  if (s < 3600) return Math.floor(s / 60) + 'm';
  if (s < 86400) return Math.floor(s / 3600) + 'h';
  return Math.floor(s / 86400) + 'd';
}
