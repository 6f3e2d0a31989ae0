import { useCallback, useEffect, useState } from "react";
import { api, type Schemas } from "../api/client";
import { Chart } from "../components/Chart";
import { ErrorBox, Time } from "../components/ui";
import { age } from "../lib/chart";
import { link, navigate } from "../lib/router";

type Window = "1h" | "24h";

// Overview is the dashboard's first page (admin keys only): what happened
// over the last hour or day, the backlog now and the endpoints that fail.
// It follows the server every few seconds.
export function Overview(_: { path: string; who?: Schemas["SessionView"] }) {
  const [win, setWin] = useState<Window>("1h");
  const [o, setO] = useState<Schemas["Overview"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(async () => {
    const { data, error } = await api.GET("/api/stats/overview", { params: { query: { window: win } } });
    setError(error);
    if (data) setO(data);
  }, [win]);
  useEffect(() => { load(); const t = setInterval(load, 5000); return () => clearInterval(t); }, [load]);
  const per = win === "1h" ? "per minute, last hour" : "per hour, last day";
  const b = o?.buckets ?? [];
  const starts = b.map((x) => x.start);
  const col = (k: keyof Schemas["OverviewBucket"]) => b.map((x) => Number(x[k]));
  const chart = { starts, bucketSeconds: o?.bucketSeconds ?? 60 };
  const last = b.length ? b[b.length - 1] : null;
  return (
    <section>
      <h1>Overview</h1>
      <div className="row" role="group" aria-label="Window">
        <button aria-pressed={win === "1h"} onClick={() => setWin("1h")}>Last hour</button>
        <button aria-pressed={win === "24h"} onClick={() => setWin("24h")}>Last day</button>
        {o && <span className="muted">{per} · <Time at={o.from} /> to now</span>}
      </div>
      <ErrorBox error={error} />
      {o && (
        <>
          <dl className="tiles">
            <div><dt>Deliveries pending</dt><dd>{o.backlog.deliveriesPending}</dd></div>
            <div><dt>Oldest pending delivery</dt><dd>{o.backlog.deliveriesOldestPending ? age(o.backlog.deliveriesOldestAgeSeconds) : "—"}</dd></div>
            <div><dt>Runs pending</dt><dd>{o.backlog.runsPending}</dd></div>
            <div><dt>Oldest pending run</dt><dd>{o.backlog.runsOldestPending ? age(o.backlog.runsOldestAgeSeconds) : "—"}</dd></div>
            <div><dt>Failing endpoints</dt><dd className={o.failingEndpoints.length ? "bad" : "ok"}>{o.failingEndpoints.length}</dd></div>
          </dl>
          <div className="charts">
            <Chart title="Events" {...chart} series={[{ name: "events", values: col("events"), tone: "accent" }]} />
            <Chart title="Deliveries" {...chart} series={[
              { name: "succeeded", values: col("deliveriesSucceeded"), tone: "ok" },
              { name: "failed", values: col("deliveriesFailed"), tone: "bad" }]} />
            <Chart title="Backlog" kind="line" {...chart} summary={`now ${last?.deliveriesBacklog ?? 0} deliveries, ${last?.runsBacklog ?? 0} runs`} series={[
              { name: "deliveries", values: col("deliveriesBacklog"), tone: "accent" },
              { name: "runs", values: col("runsBacklog"), tone: "muted" }]} />
            <Chart title="Automation runs" {...chart} series={[
              { name: "succeeded", values: col("runsSucceeded"), tone: "ok" },
              { name: "failed", values: col("runsFailed"), tone: "bad" }]} />
            <Chart title="Endpoints with failed deliveries" {...chart} series={[{ name: "endpoints", values: col("endpointsFailed"), tone: "bad" }]} />
          </div>
          <h2>Failing endpoints</h2>
          {o.failingEndpoints.length === 0 ? <p className="muted">No endpoint is failing.</p> : (
            <table>
              <thead><tr><th>Endpoint</th><th>Tenant</th><th>State</th><th>Failing since</th></tr></thead>
              <tbody>
                {o.failingEndpoints.map((e) => (
                  <tr key={e.id}>
                    <td><a href={link(`/webhooks/${e.id}`)} onClick={(ev) => { ev.preventDefault(); navigate(`/webhooks/${e.id}`); }}>{e.url}</a></td>
                    <td>{e.tenantId ?? "all"}</td>
                    <td className="bad">{e.state}{e.error ? `: ${e.error}` : ""}</td>
                    <td><Time at={e.failingSince} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
