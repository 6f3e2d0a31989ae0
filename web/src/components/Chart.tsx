import { bucketLabel, linePath, niceMax, stackedBars, sum } from "../lib/chart";

export interface ChartSeries { name: string; values: number[]; tone: "accent" | "ok" | "bad" | "muted" }

const W = 600, H = 140, PAD = 28;

/**
 * Chart draws buckets as stacked bars (counts) or lines (levels, such as a
 * backlog) in plain SVG. Its accessible name says what it shows and how
 * much, and every bar carries its bucket and value as a tooltip.
 */
export function Chart({ title, starts, bucketSeconds, series, kind = "bars", summary }: {
  title: string;
  starts: string[];
  bucketSeconds: number;
  series: ChartSeries[];
  kind?: "bars" | "line";
  /** summary replaces the caption's default (the series' totals). */
  summary?: string;
}) {
  const peak = kind === "bars"
    ? Math.max(0, ...starts.map((_, i) => sum(series.map((s) => s.values[i] ?? 0))))
    : Math.max(0, ...series.flatMap((s) => s.values));
  const max = niceMax(peak);
  const caption = summary ?? series.map((s) => `${s.name} ${sum(s.values)}`).join(", ");
  const label = `${title}: ${caption}; peak ${peak}`;
  const step = W / Math.max(starts.length, 1);
  return (
    <figure className="chart">
      <figcaption><strong>{title}</strong> <span className="muted">{caption}</span></figcaption>
      <svg viewBox={`0 0 ${W + PAD} ${H + 18}`} role="img" aria-label={label} preserveAspectRatio="none">
        <title>{label}</title>
        <g transform={`translate(${PAD},0)`}>
          <line className="axis" x1={0} y1={H} x2={W} y2={H} />
          <line className="grid" x1={0} y1={H / 2} x2={W} y2={H / 2} />
          <line className="grid" x1={0} y1={0.5} x2={W} y2={0.5} />
          {kind === "bars"
            ? stackedBars(series.map((s) => s.values), W, H, max).map((b) => (
              <rect key={`${b.series}-${b.index}`} className={`bar ${series[b.series].tone}`} x={b.x} y={b.y} width={b.w} height={b.h}>
                <title>{`${bucketLabel(starts[b.index], bucketSeconds)} · ${series[b.series].name}: ${b.value}`}</title>
              </rect>
            ))
            : series.map((s) => (
              <g key={s.name}>
                <path className={`line ${s.tone}`} d={linePath(s.values, W, H, max)} />
                {s.values.map((v, i) => (
                  <rect key={i} className="hit" x={i * step} y={0} width={step} height={H}>
                    <title>{`${bucketLabel(starts[i], bucketSeconds)} · ${s.name}: ${v}`}</title>
                  </rect>
                ))}
              </g>
            ))}
        </g>
        <text className="tick" x={PAD - 4} y={10} textAnchor="end">{max}</text>
        <text className="tick" x={PAD - 4} y={H} textAnchor="end">0</text>
        {starts.length > 0 && <text className="tick" x={PAD} y={H + 14}>{bucketLabel(starts[0], bucketSeconds)}</text>}
        {starts.length > 0 && <text className="tick" x={PAD + W} y={H + 14} textAnchor="end">{bucketLabel(starts[starts.length - 1], bucketSeconds)}</text>}
      </svg>
      {series.length > 1 && (
        <ul className="legend">
          {series.map((s) => <li key={s.name}><span className={`swatch ${s.tone}`} />{s.name}</li>)}
        </ul>
      )}
    </figure>
  );
}
