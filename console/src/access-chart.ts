import { h, svg } from './dom';

/**
 * Accesses over time as an inline SVG bar chart: one bar per hour when the events span less
 * than two days, per day otherwise; denied accesses stacked on top in their own colour. The
 * chart has a text equivalent (its label) for screen readers.
 */
export interface ChartPoint {
  readonly at: Date;
  readonly denied: boolean;
}

interface Bucket {
  start: number;
  allowed: number;
  denied: number;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MAX_BUCKETS = 60;
/** The chart always spans at least a day of hours or two weeks of days, so a single burst does not fill it. */
const MIN_BUCKETS: Readonly<Record<number, number>> = { [HOUR]: 24, [DAY]: 14 };

export function buckets(points: readonly ChartPoint[]): { size: number; buckets: Bucket[] } {
  if (points.length === 0) return { size: HOUR, buckets: [] };
  const times = points.map((p) => p.at.getTime());
  const min = Math.min(...times);
  const max = Math.max(...times);
  const size = max - min < 2 * DAY ? HOUR : DAY;
  const last = Math.floor(max / size) * size;
  const first = Math.min(Math.max(Math.floor(min / size) * size, last - (MAX_BUCKETS - 1) * size), last - ((MIN_BUCKETS[size] ?? 1) - 1) * size);
  const count = (last - first) / size + 1;
  const out: Bucket[] = Array.from({ length: count }, (_, i) => ({ start: first + i * size, allowed: 0, denied: 0 }));
  for (const p of points) {
    const i = Math.floor((p.at.getTime() - first) / size);
    const b = out[i];
    if (!b) continue;
    if (p.denied) b.denied++;
    else b.allowed++;
  }
  return { size, buckets: out };
}

export function accessChart(points: readonly ChartPoint[]): HTMLElement {
  const { size, buckets: bs } = buckets(points);
  if (bs.length === 0) return h('p', { class: 'muted' }, 'No accesses to chart yet.');
  const width = 640;
  const height = 160;
  const pad = { left: 32, right: 8, top: 8, bottom: 24 };
  const peak = Math.max(1, ...bs.map((b) => b.allowed + b.denied));
  const bw = (width - pad.left - pad.right) / bs.length;
  const y = (n: number): number => ((height - pad.top - pad.bottom) * n) / peak;
  const label = (t: number): string =>
    size === HOUR ? new Date(t).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' }) : new Date(t).toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  const full = (t: number): string => new Date(t).toLocaleString(undefined, size === HOUR ? { dateStyle: 'medium', timeStyle: 'short' } : { dateStyle: 'medium' });
  const total = points.length;
  const denied = points.filter((p) => p.denied).length;
  const summary = `Accesses per ${size === HOUR ? 'hour' : 'day'}: ${total} in all, ${denied} denied, from ${full(bs[0]!.start)} to ${full(bs[bs.length - 1]!.start)}; busiest ${peak}.`;
  const bars = bs.flatMap((b, i) => {
    const x = pad.left + i * bw + 1;
    const w = Math.max(1, bw - 2);
    const base = height - pad.bottom;
    const title = `${label(b.start)}: ${b.allowed} allowed, ${b.denied} denied`;
    return [
      svg('rect', { class: 'bar-allowed', x, y: base - y(b.allowed), width: w, height: y(b.allowed) }, svg('title', {}, title)),
      svg('rect', { class: 'bar-denied', x, y: base - y(b.allowed) - y(b.denied), width: w, height: y(b.denied) }, svg('title', {}, title)),
    ];
  });
  const step = Math.max(1, Math.ceil(bs.length / 6));
  const ticks = bs.flatMap((b, i) =>
    i % step === 0 ? [svg('text', { class: 'tick', x: pad.left + i * bw + bw / 2, y: height - 6, 'text-anchor': 'middle' }, label(b.start))] : [],
  );
  const chart = svg(
    'svg',
    { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': summary },
    svg('line', { class: 'axis', x1: pad.left, y1: height - pad.bottom, x2: width - pad.right, y2: height - pad.bottom }),
    svg('text', { class: 'tick', x: 4, y: pad.top + 10 }, String(peak)),
    svg('text', { class: 'tick', x: 4, y: height - pad.bottom }, '0'),
    bars,
    ticks,
  );
  return h(
    'figure',
    { class: 'chart-figure' },
    chart,
    h('figcaption', { class: 'muted' }, summary, ' ', h('span', { class: 'legend legend-allowed' }, 'allowed'), ' ', h('span', { class: 'legend legend-denied' }, 'denied')),
  );
}
