// The dashboard's time series, kept in the browser: each poll of the cluster view is a sample,
// the last `capacity` samples (5 minutes at one a second) are kept in a ring, and the charts'
// rates are the differences of the nodes' counters between consecutive samples.

export const POLL_MS = 1000;
export const CAPACITY = 300;

// The charts: what each one draws for a node, from the node's stats now (s) and at the sample
// before (p), dt seconds apart. null is a gap: no stats, or a counter that went back (a restart).
const rate = (f) => (s, p, dt) => {
  if (!p) return null;
  const d = f(s) - f(p);
  return d < 0 ? null : d / dt;
};
export const CHARTS = [
  { id: 'requests', title: 'Requests', unit: '/s', value: rate((s) => s.requests) },
  { id: 'bytes', title: 'Bytes out', unit: 'B/s', value: rate((s) => s.bytes_served) },
  {
    id: 'hit_ratio', title: 'Hit ratio', unit: '%', value: (s, p) => {
      if (!p) return null;
      const hits = s.hits - p.hits, misses = s.misses - p.misses;
      return hits + misses > 0 && hits >= 0 && misses >= 0 ? (100 * hits) / (hits + misses) : null;
    },
  },
  { id: 'memory_fill', title: 'Memory cache fill', unit: '%', value: (s) => fill(s.memory) },
  { id: 'disk_fill', title: 'Disk cache fill', unit: '%', value: (s) => (s.disk ? fill(s.disk) : null) },
  { id: 'origin_fetches', title: 'Origin fetches', unit: '/s', value: rate((s) => s.origin_fetches) },
  { id: 'peer_fills', title: 'Peer fills', unit: '/s', value: rate((s) => s.peer_fills) },
  { id: 'prefetch_issued', title: 'Prefetch issued', unit: '/s', value: rate((s) => s.prefetched) },
  { id: 'prefetch_used', title: 'Prefetch used', unit: '/s', value: rate((s) => s.prefetch_used) },
  { id: 'prefetch_wasted', title: 'Prefetch wasted', unit: '/s', value: rate((s) => s.prefetch_wasted) },
];

function fill(t) {
  return t && t.capacity > 0 ? (100 * t.bytes) / t.capacity : null;
}

// History is the ring of samples: {t: unix seconds, stats: Map(node name -> stats)}.
export class History {
  constructor(capacity = CAPACITY) {
    this.capacity = capacity;
    this.samples = [];
  }

  // add records the members of a cluster view polled at time t (unix seconds).
  add(t, members) {
    const stats = new Map();
    for (const m of members) if (m.stats) stats.set(m.name, m.stats);
    this.samples.push({ t, stats });
    if (this.samples.length > this.capacity) this.samples.shift();
  }

  // latest returns the newest sample's stats of a node, and the rates of the charts for it.
  latest(name) {
    const n = this.samples.length;
    if (n === 0) return null;
    const s = this.samples[n - 1].stats.get(name);
    if (!s) return null;
    const prev = n > 1 ? this.samples[n - 2] : null;
    const p = prev && prev.stats.get(name);
    const dt = prev ? this.samples[n - 1].t - prev.t : 0;
    const out = {};
    for (const c of CHARTS) out[c.id] = dt > 0 ? c.value(s, p, dt) : c.value(s, null, 0);
    return out;
  }

  // data returns uPlot's data for a chart: the times, then one series per node of names.
  data(chart, names) {
    const xs = this.samples.map((s) => s.t);
    const series = names.map((name) =>
      this.samples.map((s, i) => {
        const st = s.stats.get(name);
        if (!st) return null;
        const prev = i > 0 ? this.samples[i - 1] : null;
        const p = prev ? prev.stats.get(name) : null;
        const v = chart.value(st, p, prev ? s.t - prev.t : 0);
        return v == null || !Number.isFinite(v) ? null : v;
      }));
    return [xs, ...series];
  }
}
