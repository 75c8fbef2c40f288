// Alerts per label over time as an inline SVG (stacked bars, one per time bucket, a legend): rendered on the server,
// so the page needs no script and the chart is in the HTML the tests read. Text is escaped by the caller's template;
// this module builds the SVG from numbers and label names it escapes itself.
import type { LabelCount } from './queries.ts';

/**
 * Bucket widths a person reads easily; the chart picks the first of at least `minSeconds` that gives at most `maxBars`
 * bars (counts from the hourly rollup need whole hours: minSeconds 3600; every width from an hour on is a multiple of it).
 */
const BUCKETS = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 7 * 86_400, 30 * 86_400];

export function bucketSeconds(from: Date, to: Date, maxBars = 60, minSeconds = 0): number {
  const span = (to.getTime() - from.getTime()) / 1000;
  return BUCKETS.find((b) => b >= minSeconds && span / b <= maxBars) ?? BUCKETS[BUCKETS.length - 1]!;
}

const PALETTE = ['#d62728', '#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface ChartOptions {
  from: Date;
  to: Date;
  bucketSeconds: number;
  width?: number;
  height?: number;
}

export function labelChartSvg(counts: LabelCount[], o: ChartOptions): string {
  const width = o.width ?? 1200;
  const height = o.height ?? 220;
  const left = 48;
  const bottom = 28;
  const top = 24;
  const first = Math.floor(o.from.getTime() / 1000 / o.bucketSeconds);
  const last = Math.floor((o.to.getTime() / 1000 - 1) / o.bucketSeconds);
  const bars = Math.max(1, last - first + 1);
  const labels = [...new Set(counts.map((c) => c.label))].sort();
  const color = new Map(labels.map((l, i) => [l, PALETTE[i % PALETTE.length]!]));
  const stacks = new Map<number, Map<string, number>>();
  for (const c of counts) {
    const s = stacks.get(c.bucket) ?? new Map<string, number>();
    s.set(c.label, (s.get(c.label) ?? 0) + c.n);
    stacks.set(c.bucket, s);
  }
  const max = Math.max(1, ...[...stacks.values()].map((s) => [...s.values()].reduce((a, b) => a + b, 0)));
  const plotH = height - top - bottom;
  const barW = (width - left - 8) / bars;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 ${width} ${height}" width="100%" aria-label="alerts per label over time">`,
    `<line x1="${left}" y1="${top + plotH}" x2="${width - 8}" y2="${top + plotH}" stroke="#999"/>`,
    `<text x="${left - 6}" y="${top + 4}" text-anchor="end" font-size="11">${max}</text>`,
    `<text x="${left - 6}" y="${top + plotH}" text-anchor="end" font-size="11">0</text>`,
  ];
  for (let b = first; b <= last; b++) {
    const stack = stacks.get(b);
    if (!stack) continue;
    let y = top + plotH;
    const x = left + (b - first) * barW;
    for (const label of labels) {
      const n = stack.get(label);
      if (!n) continue;
      const h = (n / max) * plotH;
      y -= h;
      const when = new Date(b * o.bucketSeconds * 1000).toISOString().slice(0, 16).replace('T', ' ');
      parts.push(
        `<rect class="bar" data-label="${escapeXml(label)}" data-count="${n}" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(1, barW - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="${color.get(label)}"><title>${escapeXml(label)}: ${n} at ${when} UTC</title></rect>`,
      );
    }
  }
  const tick = (ms: number, anchor: string, x: number) =>
    `<text x="${x}" y="${height - 8}" text-anchor="${anchor}" font-size="11">${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')}</text>`;
  parts.push(tick(o.from.getTime(), 'start', left), tick(o.to.getTime(), 'end', width - 8));
  let lx = left;
  for (const label of labels) {
    const total = counts.filter((c) => c.label === label).reduce((a, c) => a + c.n, 0);
    parts.push(
      `<rect x="${lx}" y="6" width="10" height="10" fill="${color.get(label)}"/><text class="legend" x="${lx + 14}" y="15" font-size="12">${escapeXml(label)} (${total})</text>`,
    );
    lx += 24 + (label.length + String(total).length + 3) * 7;
  }
  if (labels.length === 0)
    parts.push(
      `<text x="${width / 2}" y="${top + plotH / 2}" text-anchor="middle" font-size="13">no alerts in this range</text>`,
    );
  parts.push('</svg>');
  return parts.join('');
}
