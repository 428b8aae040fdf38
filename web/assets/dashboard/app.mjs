// reelay's operator dashboard. The same page is served at /dashboard by every edge and by the
// API listener; it finds out which by asking for /_edge/cluster without a token (an edge
// answers 403, the API 404) and then polls, every second, with the admin token or an admin
// user's session token as a bearer:
//
//   on an edge:  GET /_edge/cluster                    the cluster as that node sees it
//                DELETE /_edge/v/{id}                  purge, fanned out by the edge
//   on the API:  GET /v1/admin/dashboard/cluster       the clusters of the edges it knows
//                GET /v1/admin/dashboard/pipeline      the transcode pipeline
//                DELETE /v1/admin/dashboard/videos/{id}/cache   purge from every edge
//
// The charts' series are kept here, in a ring of the last 5 minutes (series.mjs).
import { html, render, useState, useEffect, useRef } from '/assets/vendor/preact-htm.mjs';
import uPlot from '/assets/vendor/uPlot.esm.js';
import { History, CHARTS, POLL_MS } from '/assets/dashboard/series.mjs';

const TOKEN_KEY = 'reelay.dashboard.token';
const COLORS = ['#4f8cff', '#f5a524', '#22c55e', '#e5484d', '#a855f7', '#14b8a6', '#f472b6', '#94a3b8'];
const STATES = ['alive', 'suspect', 'left', 'dead'];

// ---- formatting

const fmtNum = (v, digits = 1) => {
  if (v == null || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(digits) + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(digits) + 'M';
  if (a >= 1e3) return (v / 1e3).toFixed(digits) + 'k';
  if (a >= 100 || Number.isInteger(v)) return Math.round(v).toString();
  return v.toFixed(digits);
};
const fmtBytes = (v) => {
  if (v == null || !Number.isFinite(v)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? Math.round(v) : v.toFixed(1)) + ' ' + units[i];
};
const fmtPct = (v) => (v == null || !Number.isFinite(v) ? '—' : v.toFixed(v >= 99.95 || v < 10 ? 1 : 0) + '%');
const fmtDuration = (secs) => {
  if (secs == null || !Number.isFinite(secs) || secs < 0) return '—';
  if (secs < 10) return secs.toFixed(1) + 's';
  secs = Math.round(secs);
  const d = Math.floor(secs / 86400), h = Math.floor((secs % 86400) / 3600), m = Math.floor((secs % 3600) / 60), s = secs % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
};
const since = (iso, now) => {
  const t = Date.parse(iso);
  return !iso || !Number.isFinite(t) || t < Date.UTC(2000, 0) ? null : Math.max(0, now / 1000 - t / 1000);
};
const plural = (n, one, many = one + 's') => `${n} ${n === 1 ? one : many}`;
const fmtValue = (unit, v) => (v == null ? '—' : unit === 'B/s' ? fmtBytes(v) + '/s' : unit === '%' ? fmtPct(v) : fmtNum(v) + unit);

// ---- talking to the server

class HTTPError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error && body.error.code;
  }
}

async function call(method, path, token, body) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  let json = null;
  try { json = await resp.json(); } catch { /* not JSON */ }
  if (!resp.ok) throw new HTTPError(resp.status, json);
  return json;
}

// detectMode tells whether the page is served by an edge or by the API listener.
async function detectMode() {
  const resp = await fetch('/_edge/cluster', { cache: 'no-store' });
  return resp.status === 404 ? 'api' : 'edge';
}

const api = {
  edge: {
    clusters: async (token) => [{ source: location.origin, view: await call('GET', '/_edge/cluster', token) }],
    pipeline: null,
    purge: (token, id) => call('DELETE', `/_edge/v/${encodeURIComponent(id)}`, token),
  },
  api: {
    clusters: async (token) => (await call('GET', '/v1/admin/dashboard/cluster', token)).clusters,
    pipeline: (token) => call('GET', '/v1/admin/dashboard/pipeline', token),
    purge: (token, id) => call('DELETE', `/v1/admin/dashboard/videos/${encodeURIComponent(id)}/cache`, token),
  },
};

// ---- the login page

function Login({ mode, message, onToken }) {
  const [tab, setTab] = useState(mode === 'api' ? 'account' : 'token');
  const [token, setToken] = useState('');
  const [handle, setHandle] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(message || '');
  const [busy, setBusy] = useState(false);

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      if (tab === 'token') {
        await onToken(token.trim());
      } else {
        const s = await call('POST', '/v1/sessions', null, { handle, password });
        await onToken(s.token);
      }
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };

  return html`
    <main class="login">
      <form class="card login-card" onSubmit=${submit} data-login>
        <div class="brand"><span class="logo">▶</span> reelay <span class="muted">operations</span></div>
        <h1>Sign in to the dashboard</h1>
        <p class="muted">For operators only. Sign in with ${mode === 'api' ? 'an admin account or the admin token' : 'this edge\'s admin token'}.</p>
        ${mode === 'api' && html`
          <div class="tabs" role="tablist">
            <button type="button" role="tab" aria-selected=${tab === 'account'} class=${tab === 'account' ? 'on' : ''} onClick=${() => setTab('account')}>Admin account</button>
            <button type="button" role="tab" aria-selected=${tab === 'token'} class=${tab === 'token' ? 'on' : ''} onClick=${() => setTab('token')}>Admin token</button>
          </div>`}
        ${tab === 'token' ? html`
          <label>Admin token
            <input name="token" type="password" autocomplete="off" required value=${token} onInput=${(e) => setToken(e.target.value)} placeholder="the --admin-token" />
          </label>` : html`
          <label>Handle
            <input name="handle" autocomplete="username" required value=${handle} onInput=${(e) => setHandle(e.target.value)} />
          </label>
          <label>Password
            <input name="password" type="password" autocomplete="current-password" required value=${password} onInput=${(e) => setPassword(e.target.value)} />
          </label>`}
        ${error && html`<p class="error" role="alert">${error}</p>`}
        <button class="primary" type="submit" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </main>`;
}

// ---- charts

function Chart({ chart, names, history, version }) {
  const box = useRef(null);
  const plot = useRef(null);
  const key = names.join(',');

  useEffect(() => {
    const el = box.current;
    const width = () => Math.max(200, el.clientWidth);
    const opts = {
      width: width(),
      height: 150,
      legend: { show: false },
      cursor: { points: { size: 6 } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, chart.unit === '%' ? 100 : Math.max(1, max * 1.15)] } },
      axes: [
        { stroke: '#8b95a7', grid: { stroke: '#232a36', width: 1 }, ticks: { stroke: '#232a36' }, font: '11px system-ui', space: 70,
          values: (u, vals) => vals.map((v) => new Date(v * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false })) },
        { stroke: '#8b95a7', grid: { stroke: '#232a36', width: 1 }, ticks: { stroke: '#232a36' }, font: '11px system-ui', size: 48,
          values: (u, vals) => vals.map((v) => fmtNum(v).replace(/\.0(?=[kMG]?$)/, '')) }, // 500k, not 500.0k (clipped)
      ],
      series: [{}, ...names.map((name, i) => ({
        label: name, stroke: COLORS[i % COLORS.length], width: 1.75, spanGaps: false,
        points: { show: false }, fill: names.length === 1 ? COLORS[0] + '22' : undefined,
      }))],
    };
    plot.current = new uPlot(opts, history.data(chart, names), el);
    const ro = new ResizeObserver(() => plot.current && plot.current.setSize({ width: width(), height: 150 }));
    ro.observe(el);
    return () => { ro.disconnect(); plot.current.destroy(); plot.current = null; };
  }, [key]);

  useEffect(() => {
    if (!plot.current) return;
    const data = history.data(chart, names);
    plot.current.setData(data);
    box.current.dataset.points = data.slice(1).reduce((n, s) => n + s.filter((v) => v != null).length, 0);
  }, [version, key]);

  const last = names.map((name, i) => {
    const l = history.latest(name);
    return { name, color: COLORS[i % COLORS.length], v: l ? l[chart.id] : null };
  });
  return html`
    <section class="card chart" data-chart=${chart.id}>
      <header><h3>${chart.title}</h3><span class="unit">${chart.unit}</span></header>
      <div class="plot" ref=${box}></div>
      <ul class="legend">
        ${last.map((l) => html`<li><i style=${{ background: l.color }}></i>${l.name}<b>${fmtValue(chart.unit, l.v)}</b></li>`)}
      </ul>
    </section>`;
}

// ---- the page's parts

function StatePill({ state }) {
  return html`<span class=${'pill state-' + state}>${state}</span>`;
}

function Tile({ label, value, sub, tone }) {
  return html`<div class=${'card tile' + (tone ? ' tone-' + tone : '')}><div class="label">${label}</div><div class="value">${value}</div>${sub && html`<div class="sub">${sub}</div>`}</div>`;
}

function Members({ members, history, now, colors }) {
  return html`
    <section class="card">
      <header class="section-head"><h2>Nodes</h2><span class="muted">${members.length} known</span></header>
      ${members.length === 0 && html`<p class="empty">No edge answers: this listener knows of no edge cluster (reelay feed: --purge-url, --prefetch-edges).</p>`}
      <div class="table-wrap">
        <table class="nodes">
          <thead><tr><th>Node</th><th>State</th><th>For</th><th>Address</th><th class="num">Req/s</th><th class="num">Out</th><th class="num">Hit ratio</th><th class="num">Memory</th><th class="num">Disk</th><th class="num">Fills in flight</th></tr></thead>
          <tbody>
            ${members.map((m) => {
              const l = history.latest(m.name) || {};
              const s = m.stats;
              return html`
                <tr data-node=${m.name} data-state=${m.state} class=${'row-' + m.state}>
                  <td data-label="Node"><i class="dot" style=${{ background: colors.get(m.name) }}></i><b>${m.name}</b>${m.error && html`<div class="sub error-text" title=${m.error}>no answer</div>`}</td>
                  <td data-label="State"><${StatePill} state=${m.state} /></td>
                  <td data-label="For">${fmtDuration(since(m.since, now))}</td>
                  <td data-label="Address"><span class="mono">${m.http || '—'}</span>${m.addr && html`<div class="sub mono">gossip ${m.addr}</div>`}</td>
                  <td data-label="Req/s" class="num">${fmtNum(l.requests)}</td>
                  <td data-label="Out" class="num">${l.bytes == null ? '—' : fmtBytes(l.bytes) + '/s'}</td>
                  <td data-label="Hit ratio" class="num">${fmtPct(l.hit_ratio)}</td>
                  <td data-label="Memory" class="num">${s ? html`<${Meter} pct=${l.memory_fill} /> ${fmtBytes(s.memory.bytes)}` : '—'}</td>
                  <td data-label="Disk" class="num">${s && s.disk ? html`<${Meter} pct=${l.disk_fill} /> ${fmtBytes(s.disk.bytes)}` : '—'}</td>
                  <td data-label="Fills in flight" class="num">${m.load == null ? '—' : m.load}</td>
                </tr>`;
            })}
          </tbody>
        </table>
      </div>
    </section>`;
}

function Meter({ pct }) {
  const p = pct == null ? 0 : Math.min(100, Math.max(0, pct));
  return html`<span class="meter" title=${fmtPct(pct)}><span style=${{ width: p + '%' }}></span></span>`;
}

// Busiest lists the videos with the most requests; on the API listener, where the player is,
// each id opens the video in it.
function Busiest({ videos, onPurge, player }) {
  return html`
    <section class="card">
      <header class="section-head"><h2>Busiest videos</h2><span class="muted">last minute, all nodes</span></header>
      ${videos.length === 0 ? html`<p class="empty">No player traffic in the last minute.</p>` : html`
      <div class="table-wrap">
        <table class="videos">
          <thead><tr><th>Video</th><th class="num">Requests</th><th class="num">Sent</th><th class="num">Origin fetches</th><th class="num">Per object</th><th></th></tr></thead>
          <tbody>
            ${videos.slice(0, 10).map((v) => html`
              <tr data-video=${v.video}>
                <td data-label="Video" class="mono">${player
                  ? html`<a href=${player + v.video} target="_blank" rel="noopener" title="Open in the player">${v.video}</a>` : v.video}</td>
                <td data-label="Requests" class="num">${fmtNum(v.requests)}</td>
                <td data-label="Sent" class="num">${fmtBytes(v.bytes)}</td>
                <td data-label="Origin fetches" class="num">${fmtNum(v.origin_fetches)}</td>
                <td data-label="Per object" class="num">${v.origin_objects ? (v.origin_fetches / v.origin_objects).toFixed(2) : '—'}</td>
                <td class="actions"><button class="ghost danger" onClick=${() => onPurge(v.video)}>Purge</button></td>
              </tr>`)}
          </tbody>
        </table>
      </div>`}
    </section>`;
}

function RingSpread({ members, colors }) {
  const live = members.filter((m) => m.stats);
  const total = (f) => live.reduce((n, m) => n + (f(m) || 0), 0);
  const rows = [
    { label: 'Requests', f: (m) => m.rate && m.rate.requests },
    { label: 'Origin fetches', f: (m) => m.rate && m.rate.origin_fetches },
    { label: 'Fills in flight', f: (m) => m.load },
    { label: 'Cache held', f: (m) => m.stats.memory.bytes + (m.stats.disk ? m.stats.disk.bytes : 0) },
  ];
  return html`
    <section class="card">
      <header class="section-head"><h2>Ring load spread</h2><span class="muted">share of each node</span></header>
      ${rows.map((r) => {
        const sum = total(r.f);
        return html`
          <div class="spread">
            <div class="spread-label">${r.label}</div>
            <div class="spread-bar">
              ${sum > 0 ? live.map((m) => {
                const share = (100 * (r.f(m) || 0)) / sum;
                return share > 0 && html`<span title=${`${m.name}: ${share.toFixed(0)}%`} style=${{ width: share + '%', background: colors.get(m.name) }}>${share >= 12 ? share.toFixed(0) + '%' : ''}</span>`;
              }) : html`<span class="none">idle</span>`}
            </div>
          </div>`;
      })}
      <ul class="legend">${live.map((m) => html`<li><i style=${{ background: colors.get(m.name) }}></i>${m.name}</li>`)}</ul>
    </section>`;
}

function Pipeline({ p, now }) {
  if (!p) return null;
  return html`
    <section class="pipeline" data-pipeline>
      <h2 class="band">Transcode pipeline</h2>
      <div class="tiles">
        <${Tile} label="Queue depth" value=${p.queued} sub=${p.queued ? 'oldest waited ' + fmtDuration(p.oldest_wait_seconds) : 'nothing waits'} tone=${p.queued > 5 ? 'warn' : ''} />
        <${Tile} label="Running" value=${p.running.length} sub=${p.retrying ? p.retrying + ' waiting to retry' : 'jobs in progress'} />
        <${Tile} label="Time to playable" value=${fmtDuration(p.time_to_playable.p50)} sub=${p.time_to_playable.count ? `p50 · p90 ${fmtDuration(p.time_to_playable.p90)} · last hour, ${plural(p.time_to_playable.count, 'video')}` : 'no video in the last hour'} />
        <${Tile} label="Time to ready" value=${fmtDuration(p.time_to_ready.p50)} sub=${p.time_to_ready.count ? `p50 · p90 ${fmtDuration(p.time_to_ready.p90)}` : '—'} />
      </div>
      <div class="grid2">
        <section class="card">
          <header class="section-head"><h2>Running jobs</h2></header>
          ${p.running.length === 0 ? html`<p class="empty">No transcode running.</p>` : html`
          <ul class="jobs">
            ${p.running.map((j) => html`
              <li data-job=${j.video}>
                <div class="job-head"><span class="mono">${j.video}</span><span class="muted">${j.worker} · attempt ${j.attempt}/${j.max_attempts} · ${fmtDuration(since(j.started, now))}</span></div>
                ${j.caption && html`<div class="sub">${j.caption}</div>`}
                <div class="progress"><span style=${{ width: j.progress + '%' }}></span></div>
                <div class="sub">${j.progress}%${j.playable ? ' · playable' : ''}</div>
              </li>`)}
          </ul>`}
        </section>
        <section class="card">
          <header class="section-head"><h2>Recent failures</h2></header>
          ${p.failures.length === 0 ? html`<p class="empty">No failure.</p>` : html`
          <ul class="failures">
            ${p.failures.map((f) => html`
              <li><div class="job-head"><span class="mono">${f.video}</span><span class="muted">${fmtDuration(since(f.at, now))} ago</span></div>
                <div><span class="pill state-dead">${f.code || 'failed'}</span> ${f.reason}</div></li>`)}
          </ul>`}
        </section>
      </div>
    </section>`;
}

function PurgeForm({ onPurge }) {
  const [id, setId] = useState('');
  return html`
    <section class="card">
      <header class="section-head"><h2>Purge a video</h2><span class="muted">from every edge</span></header>
      <form class="purge" onSubmit=${(e) => { e.preventDefault(); if (id.trim()) onPurge(id.trim()); }}>
        <input name="video" placeholder="video id" value=${id} onInput=${(e) => setId(e.target.value)} autocomplete="off" spellcheck="false" />
        <button class="danger" type="submit">Purge…</button>
      </form>
      <p class="sub">Drops the video's cached playlists and segments on every node; the next requests fill again from the origin.</p>
    </section>`;
}

function Confirm({ ask, onClose }) {
  const ref = useRef(null);
  useEffect(() => {
    const d = ref.current;
    if (ask && !d.open) d.showModal();
    if (!ask && d.open) d.close();
  }, [ask]);
  return html`
    <dialog ref=${ref} class="confirm" onClose=${() => onClose(false)} data-confirm>
      ${ask && html`
        <form method="dialog">
          <h2>${ask.title}</h2>
          <p>${ask.text}</p>
          <div class="buttons">
            <button value="cancel" class="ghost" onClick=${(e) => { e.preventDefault(); onClose(false); }}>Cancel</button>
            <button value="ok" class="danger" data-confirm-ok onClick=${(e) => { e.preventDefault(); onClose(true); }}>${ask.ok}</button>
          </div>
        </form>`}
    </dialog>`;
}

// ---- the dashboard

function Dashboard({ mode, token, onLogout }) {
  const history = useRef(new History()).current;
  const [clusters, setClusters] = useState([]);
  const [pipeline, setPipeline] = useState(null);
  const [version, setVersion] = useState(0);
  const [updated, setUpdated] = useState(0);
  const [error, setError] = useState('');
  const [ask, setAsk] = useState(null);
  const [toast, setToast] = useState(null);
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    let stop = false, timer = 0;
    const poll = async () => {
      try {
        const [cs, p] = await Promise.all([api[mode].clusters(token), api[mode].pipeline ? api[mode].pipeline(token) : null]);
        if (stop) return;
        const members = cs.flatMap((c) => (c.view ? c.view.members : []));
        history.add(Date.now() / 1000, members);
        setClusters(cs);
        setPipeline(p);
        setUpdated(Date.now());
        setVersion((v) => v + 1);
        setError('');
      } catch (err) {
        if (stop) return;
        if (err.status === 401 || err.status === 403) {
          onLogout(err.status === 403 ? 'That token is not an admin\'s.' : 'The token is invalid or has expired.');
          return;
        }
        setError(err.message);
      }
      if (!stop) timer = setTimeout(poll, POLL_MS);
    };
    poll();
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => { stop = true; clearTimeout(timer); clearInterval(tick); };
  }, [mode, token]);

  const views = clusters.filter((c) => c.view).map((c) => c.view);
  const members = views.flatMap((v) => v.members);
  // Fills in flight counted against each member, summed over every node's ring.
  const loads = new Map();
  for (const m of members) for (const [name, n] of Object.entries((m.stats && m.stats.loads) || {})) loads.set(name, (loads.get(name) || 0) + n);
  for (const m of members) {
    m.load = m.state === 'alive' || m.state === 'suspect' ? loads.get(m.name) || 0 : null;
    m.rate = history.latest(m.name);
  }
  members.sort((a, b) => STATES.indexOf(a.state) - STATES.indexOf(b.state) || a.name.localeCompare(b.name));
  const names = [...new Set(members.map((m) => m.name))].sort();
  const colors = new Map(names.map((n, i) => [n, COLORS[i % COLORS.length]]));
  const videos = views.flatMap((v) => v.videos || []).sort((a, b) => b.requests - a.requests);
  const alive = members.filter((m) => m.state === 'alive').length;
  const sum = (f) => members.reduce((n, m) => n + ((m.rate && m.rate[f]) || 0), 0);
  const hits = members.reduce((n, m) => n + (m.stats ? m.stats.hits : 0), 0);
  const misses = members.reduce((n, m) => n + (m.stats ? m.stats.misses : 0), 0);
  const fetches = views.reduce((n, v) => n + v.origin_fetches, 0), objects = views.reduce((n, v) => n + v.origin_objects, 0);
  const age = updated ? Math.max(0, now - updated) / 1000 : null;
  const live = age != null && age < 3 && !error;

  const purge = (id) => setAsk({
    title: 'Purge this video from every edge?',
    text: html`Every cached object of <b class="mono">${id}</b> is dropped on all nodes${mode === 'api' ? ' of every cluster' : ''}. Players keep playing; the next requests fill from the origin again.`,
    ok: 'Purge', id,
  });
  const answer = async (ok) => {
    const a = ask;
    setAsk(null);
    if (!ok || !a) return;
    try {
      const r = await api[mode].purge(token, a.id);
      const failed = r && r.members ? Object.entries(r.members).filter(([, v]) => v !== 'ok') : [];
      setToast({ ok: failed.length === 0, text: failed.length ? `Purged ${a.id}, but ${failed.map(([n]) => n).join(', ')} failed.` : `Purged ${a.id} from every edge.` });
    } catch (err) {
      setToast({ ok: false, text: `Purge of ${a.id} failed: ${err.message}` });
    }
    setTimeout(() => setToast(null), 6000);
  };

  const source = mode === 'edge' ? (views[0] ? views[0].node : '…') : 'API';
  return html`
    <div class="app">
      <header class="topbar">
        <div class="brand"><span class="logo">▶</span> reelay <span class="muted">operations</span></div>
        <div class="where"><span class=${'live ' + (live ? 'on' : 'off')} data-live=${live}></span>
          <span>${live ? 'Live' : error ? 'Unreachable' : 'Waiting'}</span><span class="muted detail">· via ${source}${age != null ? ` · ${age.toFixed(0)}s ago` : ''}</span></div>
        <button class="ghost" onClick=${() => onLogout('')}>Sign out</button>
      </header>
      ${error && html`<div class="banner error" role="alert">${error}</div>`}
      ${clusters.filter((c) => c.error).map((c) => html`<div class="banner warn">Edge ${c.source} does not answer: ${c.error}</div>`)}
      <main class="content">
        <div class="tiles">
          <${Tile} label="Nodes alive" value=${`${alive} / ${members.length}`} sub=${members.length - alive ? `${members.length - alive} not alive` : 'all healthy'} tone=${members.length && alive < members.length ? 'warn' : 'ok'} />
          <${Tile} label="Requests" value=${fmtNum(sum('requests')) + '/s'} sub=${fmtBytes(sum('bytes')) + '/s out'} />
          <${Tile} label="Hit ratio" value=${fmtPct(hits + misses ? (100 * hits) / (hits + misses) : null)} sub="since the nodes started" />
          <${Tile} label="Origin fetches per object" value=${objects ? (fetches / objects).toFixed(2) : '—'} sub=${objects ? `${plural(fetches, 'fetch', 'fetches')} of ${plural(objects, 'object')}, last minute` : 'no origin fetch in the last minute'} tone=${objects && fetches / objects > 1.5 ? 'warn' : ''} />
        </div>
        <${Members} members=${members} history=${history} now=${now} colors=${colors} />
        <h2 class="band">Per node <span class="muted">· since this page opened, up to 5 minutes</span></h2>
        <div class="charts">
          ${CHARTS.map((c) => html`<${Chart} key=${c.id} chart=${c} names=${names} history=${history} version=${version} />`)}
        </div>
        <h2 class="band">Cluster</h2>
        <div class="grid2">
          <${Busiest} videos=${videos} onPurge=${purge} player=${mode === 'api' ? '/#/v/' : ''} />
          <div class="stack">
            <${RingSpread} members=${members} colors=${colors} />
            <${PurgeForm} onPurge=${purge} />
          </div>
        </div>
        <${Pipeline} p=${pipeline} now=${now} />
      </main>
      <${Confirm} ask=${ask} onClose=${answer} />
      ${toast && html`<div class=${'toast ' + (toast.ok ? 'ok' : 'bad')} role="status" data-toast>${toast.text}</div>`}
    </div>`;
}

function App() {
  const [mode, setMode] = useState(null);
  const [token, setToken] = useState(() => localStorage.getItem(TOKEN_KEY) || '');
  const [message, setMessage] = useState('');

  useEffect(() => { detectMode().then(setMode, () => setMode('edge')); }, []);

  const signIn = async (t) => {
    // Check the token before keeping it: an answer from the data tells.
    await api[mode].clusters(t).catch((err) => {
      if (err.status === 401) throw new Error('The token is invalid or has expired.');
      if (err.status === 403) throw new Error(mode === 'edge' ? 'The token was refused: it is not this edge\'s admin token.' : 'That account or token is not an admin\'s.');
      throw err;
    });
    localStorage.setItem(TOKEN_KEY, t);
    setMessage('');
    setToken(t);
  };
  const logout = (why) => {
    localStorage.removeItem(TOKEN_KEY);
    setMessage(why);
    setToken('');
  };

  if (!mode) return html`<main class="login"><p class="muted">Loading…</p></main>`;
  if (!token) return html`<${Login} mode=${mode} message=${message} onToken=${signIn} />`;
  return html`<${Dashboard} mode=${mode} token=${token} onLogout=${logout} />`;
}

render(html`<${App} />`, document.getElementById('app'));
