// chart.ts is the charts' arithmetic, with no drawing: a readable axis
// maximum, the geometry of stacked bars and of a line, bucket labels and
// ages. The Chart component draws what these return as SVG.

/** niceMax rounds a maximum up to 1, 2 or 5 × 10ⁿ (at least 1), so that the axis reads well. */
export function niceMax(v: number): number {
  if (!(v > 1)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

export interface Bar { index: number; series: number; x: number; y: number; w: number; h: number; value: number }

/**
 * stackedBars lays out one bar per bucket, the series stacked bottom up,
 * in a width × height box whose top is max. Zero values get no bar.
 */
export function stackedBars(series: number[][], width: number, height: number, max: number): Bar[] {
  const n = Math.max(0, ...series.map((s) => s.length));
  if (n === 0) return [];
  const step = width / n;
  const w = Math.max(step * 0.8, 1);
  const out: Bar[] = [];
  for (let i = 0; i < n; i++) {
    let base = 0;
    series.forEach((s, k) => {
      const v = s[i] ?? 0;
      if (v <= 0) return;
      const h = (v / max) * height;
      out.push({ index: i, series: k, x: i * step + (step - w) / 2, y: height - base - h, w, h, value: v });
      base += h;
    });
  }
  return out;
}

/** linePath is an SVG path through the bucket centres. */
export function linePath(values: number[], width: number, height: number, max: number): string {
  if (!values.length) return "";
  const step = width / values.length;
  return values.map((v, i) => `${i ? "L" : "M"}${round(i * step + step / 2)},${round(height - (Math.max(v, 0) / max) * height)}`).join(" ");
}

const round = (x: number) => Math.round(x * 10) / 10;

/** sum adds the values up. */
export function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** bucketLabel is a bucket's start as the viewer's clock shows it: the time for minutes, the hour with its day for hours. */
export function bucketLabel(start: string, bucketSeconds: number, locale?: string): string {
  const d = new Date(start);
  if (bucketSeconds < 3600) return d.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
  return d.toLocaleString(locale, { weekday: "short", hour: "2-digit", minute: "2-digit" });
}

/** age says how long seconds are, in its two largest units: 45s, 3m 20s, 2h 5m, 3d 4h. */
export function age(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const units: [string, number][] = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
  const parts: string[] = [];
  let rest = s;
  for (const [u, n] of units) {
    const q = Math.floor(rest / n);
    if (q > 0 || (parts.length > 0 && parts.length < 2)) {
      if (q > 0) parts.push(`${q}${u}`);
      rest -= q * n;
    }
    if (parts.length === 2) break;
  }
  return parts.length ? parts.join(" ") : "0s";
}

/** percent shows a rate of 0..1; null (no attempts) is a dash. */
export function percent(rate: number | null | undefined): string {
  if (rate === null || rate === undefined) return "—";
  const p = rate * 100;
  return `${p === 100 || p === 0 ? p.toFixed(0) : p.toFixed(1)}%`;
}
