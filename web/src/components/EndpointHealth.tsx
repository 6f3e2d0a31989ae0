import type { Schemas } from "../api/client";
import { percent } from "../lib/chart";
import { Time } from "./ui";

/** EndpointHealth shows how an endpoint's latest deliveries went: its state, success rate, last success and last error. */
export function EndpointHealth({ health }: { health?: Schemas["EndpointHealth"] | null }) {
  if (!health) return <span className="muted">—</span>;
  const r = health.recent;
  const tone = health.state === "healthy" ? "ok" : "bad";
  return (
    <div className="health">
      <span className={tone}>{health.state}{health.error ? `: ${health.error}` : ""}</span>
      {r && (r.attempts === 0 ? <span className="muted">no attempts yet</span> : (
        <>
          <span>{percent(r.successRate)} success of {r.attempts} attempt{r.attempts === 1 ? "" : "s"}</span>
          <span className="muted">last success {r.lastSuccessAt ? <Time at={r.lastSuccessAt} /> : "none"}</span>
          {r.lastErrorAt && <span className="bad">last error {r.lastError} · <Time at={r.lastErrorAt} /></span>}
        </>
      ))}
    </div>
  );
}
