// api.mjs: the player's side of reelay's JSON API (feed/openapi.json): the session kept in
// localStorage, bearer auth, errors as {error: {code, message}}.

const SESSION_KEY = 'reelay.session';
const VISITOR_KEY = 'reelay.visitor';
const DEVICE_KEY = 'reelay.device';

// ApiError is an answer of the API other than 2xx: status, code and message from its body.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const listeners = new Set();

// session is {token, user: {id, handle}} or null.
export function session() {
  try {
    return JSON.parse(localStorage.getItem(SESSION_KEY)) || null;
  } catch {
    return null;
  }
}

function setSession(s) {
  if (s) localStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else localStorage.removeItem(SESSION_KEY);
  for (const f of listeners) f(s);
}

// onSession calls f with the new session at each login and logout; it returns the unsubscriber.
export function onSession(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

// visitor is the id a player without a session sends its events under, made once and kept.
export function visitor() {
  let v = localStorage.getItem(VISITOR_KEY);
  if (!v) {
    const b = crypto.getRandomValues(new Uint8Array(16));
    v = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    localStorage.setItem(VISITOR_KEY, v);
  }
  return v;
}

// api calls the API: method, path (/v1/...), and a body to send as JSON. It resolves to the
// decoded answer (null for 204) and rejects with an ApiError.
export async function api(method, path, body, opts = {}) {
  const headers = {};
  const s = session();
  if (s) headers.Authorization = `Bearer ${s.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    keepalive: opts.keepalive,
  });
  if (resp.status === 204) return null;
  let data = null;
  try {
    data = await resp.json();
  } catch {
    // not JSON: the status says it all
  }
  if (!resp.ok) {
    if (resp.status === 401 && s) setSession(null); // expired or logged out elsewhere
    const e = (data && data.error) || {};
    throw new ApiError(resp.status, e.code || 'http_' + resp.status, e.message || resp.statusText);
  }
  return data;
}

// login logs in, and keeps the session and the device token that the next logins present.
export async function login(handle, password) {
  const body = { handle, password };
  const device = localStorage.getItem(DEVICE_KEY);
  if (device) body.device_token = device;
  const s = await api('POST', '/v1/sessions', body);
  localStorage.setItem(DEVICE_KEY, s.device_token);
  setSession({ token: s.token, user: s.user, expires_at: s.expires_at });
  return s.user;
}

// register creates the account, then logs in.
export async function register(handle, password) {
  await api('POST', '/v1/users', { handle, password });
  return login(handle, password);
}

export async function logout() {
  try {
    await api('DELETE', '/v1/sessions/current');
  } finally {
    setSession(null);
  }
}

// shareLink is the address of a video in the player.
export function shareLink(id) {
  return `${location.origin}/#/v/${id}`;
}

// compact writes a count as the apps do: 999, 1.2K, 3.4M.
export function compact(n) {
  if (n < 1000) return String(n);
  const [d, s] = n < 1e6 ? [1e3, 'K'] : n < 1e9 ? [1e6, 'M'] : [1e9, 'B'];
  const v = n / d;
  return (v < 10 ? v.toFixed(1).replace(/\.0$/, '') : Math.floor(v)) + s;
}
