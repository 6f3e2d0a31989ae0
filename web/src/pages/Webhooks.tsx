import { useCallback, useEffect, useState } from "react";
import { api, type Schemas } from "../api/client";
import { EndpointHealth } from "../components/EndpointHealth";
import { EventTypePicker } from "../components/EventTypePicker";
import { ErrorBox, ExpressionStatus, Time } from "../components/ui";
import { match, link, navigate } from "../lib/router";

// Webhooks lists endpoints, registers and edits them (the secret is shown
// once), and shows an endpoint's delivery log with every attempt.
export function Webhooks({ path }: { path: string; who?: Schemas["SessionView"] }) {
  const id = match(path, "/webhooks")?.[0];
  return id ? <Endpoint id={id} /> : <EndpointList />;
}

const lines = (s: string) => s.split(/[\n,]/).map((x) => x.trim()).filter(Boolean);

function EndpointList() {
  const [eps, setEps] = useState<Schemas["Endpoint"][]>([]);
  const [error, setError] = useState<unknown>(null);
  const [secret, setSecret] = useState("");
  const load = useCallback(async () => {
    const { data, error } = await api.GET("/api/webhooks", { params: { query: { pageSize: 500 } } });
    if (error) setError(error); // a list that loads must not hide the last write's error
    setEps(data?.data ?? []);
  }, []);
  useEffect(() => { load(); }, [load]);
  return (
    <section>
      <h1>Webhooks</h1>
      <table>
        <thead><tr><th>URL</th><th>Events</th><th>Tenant</th><th>State</th><th>Health</th><th>Created</th></tr></thead>
        <tbody>
          {eps.map((e) => (
            <tr key={e.id}>
              <td><a href={link(`/webhooks/${e.id}`)} onClick={(ev) => { ev.preventDefault(); navigate(`/webhooks/${e.id}`); }}>{e.url}</a></td>
              <td>{(e.events ?? []).join(", ")}</td><td>{e.tenantId ?? "all"}</td>
              <td>{e.active ? <span className="ok">active</span> : <span className="bad">disabled{e.disabledReason ? `: ${e.disabledReason}` : ""}</span>}</td>
              <td><EndpointHealth health={e.health} /></td>
              <td><Time at={e.createdAt} /></td>
            </tr>
          ))}
        </tbody>
      </table>
      {eps.length === 0 && <p className="muted">No endpoints yet.</p>}
      {secret && <SecretOnce secret={secret} onDone={() => setSecret("")} />}
      <EndpointForm onSaved={(ep) => { setSecret(ep.secret ?? ""); load(); }} />
      <ErrorBox error={error} />
    </section>
  );
}

export function SecretOnce({ secret, onDone }: { secret: string; onDone: () => void }) {
  return (
    <div className="card notice" role="status">
      <p>Signing secret — shown once, store it now:</p>
      <code className="secret">{secret}</code>
      <div className="row">
        <button onClick={() => navigator.clipboard?.writeText(secret)}>Copy</button>
        <button onClick={onDone}>Done</button>
      </div>
    </div>
  );
}

function EndpointForm({ ep, onSaved }: { ep?: Schemas["Endpoint"]; onSaved: (ep: Schemas["Endpoint"]) => void }) {
  const [f, setF] = useState({
    url: ep?.url ?? "", events: ep?.events ?? ["*"], tenantId: ep?.tenantId ?? "", description: ep?.description ?? "",
    filter: ep?.filter ?? "", headers: Object.entries(ep?.headers ?? {}).map(([k, v]) => `${k}: ${v}`).join("\n"),
    retrySchedule: (ep?.retrySchedule ?? []).join(", "), timeoutSeconds: String(ep?.timeoutSeconds ?? ""),
    maxInFlight: String(ep?.maxInFlight ?? ""), signatureHeader: ep?.signatureHeader ?? "", active: ep?.active ?? true,
  });
  const [error, setError] = useState<unknown>(null);
  const set = (p: Partial<typeof f>) => setF({ ...f, ...p });
  return (
    <form className="card" aria-label={ep ? "Edit endpoint" : "New endpoint"} onSubmit={async (e) => {
      e.preventDefault();
      const headers = Object.fromEntries(f.headers.split("\n").map((l) => l.split(/:(.*)/s)).filter((p) => p[0]?.trim())
        .map(([k, v]) => [k.trim(), (v ?? "").trim()]));
      const body = {
        url: f.url, events: f.events, description: f.description, filter: f.filter, headers, active: f.active,
        ...(f.signatureHeader ? { signatureHeader: f.signatureHeader } : {}),
        ...(f.retrySchedule ? { retrySchedule: lines(f.retrySchedule) } : {}),
        ...(f.timeoutSeconds ? { timeoutSeconds: Number(f.timeoutSeconds) } : {}),
        ...(f.maxInFlight ? { maxInFlight: Number(f.maxInFlight) } : {}),
      };
      const res = ep
        ? await api.PATCH("/api/webhooks/{id}", { params: { path: { id: ep.id } }, body })
        : await api.POST("/api/webhooks", { body: { ...body, ...(f.tenantId ? { tenantId: f.tenantId } : {}) } });
      setError(res.error);
      if (res.data) onSaved(res.data);
    }}>
      <h3>{ep ? "Edit endpoint" : "New endpoint"}</h3>
      <label>Endpoint URL<input value={f.url} onChange={(e) => set({ url: e.target.value })} required placeholder="https://example.com/hooks" /></label>
      <div className="row">
        {!ep && <label>Tenant (empty: all)<input value={f.tenantId} onChange={(e) => set({ tenantId: e.target.value })} /></label>}
      </div>
      <EventTypePicker value={f.events} onChange={(events) => set({ events })} />
      <label>Description<input value={f.description} onChange={(e) => set({ description: e.target.value })} /></label>
      <label>CEL filter<input value={f.filter} onChange={(e) => set({ filter: e.target.value })} placeholder="event.fieldKey == 'stage'" />
        <ExpressionStatus kind="filter" expression={f.filter} /></label>
      <label>Headers (Name: value, one per line)<textarea rows={2} value={f.headers} onChange={(e) => set({ headers: e.target.value })} /></label>
      <div className="row">
        <label>Retry schedule<input value={f.retrySchedule} onChange={(e) => set({ retrySchedule: e.target.value })} placeholder="1m, 5m, 30m, 2h, 12h" /></label>
        <label>Timeout (s)<input inputMode="numeric" value={f.timeoutSeconds} onChange={(e) => set({ timeoutSeconds: e.target.value })} placeholder="30" /></label>
        <label>Max in flight<input inputMode="numeric" value={f.maxInFlight} onChange={(e) => set({ maxInFlight: e.target.value })} /></label>
        <label>Signature header<input value={f.signatureHeader} onChange={(e) => set({ signatureHeader: e.target.value })} placeholder="X-Fieldflow-Signature" /></label>
      </div>
      <label className="check"><input type="checkbox" checked={f.active} onChange={(e) => set({ active: e.target.checked })} />Active</label>
      <ErrorBox error={error} />
      <button type="submit">{ep ? "Save endpoint" : "Create endpoint"}</button>
    </form>
  );
}

function Endpoint({ id }: { id: string }) {
  const [ep, setEp] = useState<Schemas["Endpoint"] | null>(null);
  const [deliveries, setDeliveries] = useState<Schemas["DeliveryView"][]>([]);
  const [status, setStatus] = useState("");
  const [secret, setSecret] = useState("");
  const [note, setNote] = useState("");
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(async () => {
    const e = await api.GET("/api/webhooks/{id}", { params: { path: { id } } });
    setEp(e.data ?? null);
    if (e.error) setError(e.error);
    const d = await api.GET("/api/webhooks/{id}/deliveries", { params: { path: { id }, query: status ? { status: status as "pending" | "succeeded" | "failed" } : {} } });
    setDeliveries(d.data?.data ?? []);
  }, [id, status]);
  useEffect(() => { load(); }, [load]);
  // The log follows new deliveries while the page is open.
  useEffect(() => { const t = setInterval(load, 2000); return () => clearInterval(t); }, [load]);
  if (!ep) return <ErrorBox error={error} />;
  return (
    <section>
      <p><a href={link("/webhooks")} onClick={(e) => { e.preventDefault(); navigate("/webhooks"); }}>← Webhooks</a></p>
      <h1>{ep.url}</h1>
      <div className="row">
        <button onClick={async () => {
          const { data, error } = await api.POST("/api/webhooks/{id}/test", { params: { path: { id } } });
          setError(error);
          setNote(data ? `Test ${data.success ? "succeeded" : "failed"}: status ${data.attempt.responseStatus ?? "—"} ${data.attempt.error ?? ""}` : "");
          load();
        }}>Send test</button>
        <button onClick={async () => {
          if (!confirm("Rotate the secret? The old one keeps signing for 24 hours.")) return;
          const { data, error } = await api.POST("/api/webhooks/{id}/rotate-secret", { params: { path: { id } }, body: {} });
          setError(error);
          setSecret(data?.secret ?? "");
        }}>Rotate secret</button>
        <button onClick={async () => {
          const since = prompt("Replay deliveries since (RFC 3339)", new Date(Date.now() - 3600e3).toISOString());
          if (!since) return;
          const onlyFailed = confirm("Only failed deliveries?");
          const { data, error } = await api.POST("/api/webhooks/{id}/replay", { params: { path: { id } }, body: { since, onlyFailed } });
          setError(error);
          setNote(data ? `Replayed ${data.count} deliveries.` : "");
          load();
        }}>Replay…</button>
        <button className="danger" onClick={async () => {
          if (!confirm("Delete this endpoint?")) return;
          await api.DELETE("/api/webhooks/{id}", { params: { path: { id } } });
          navigate("/webhooks");
        }}>Delete</button>
      </div>
      <section className="card" aria-label="Health">
        <h3>Health <span className="muted">latest {ep.health?.recent?.deliveries ?? 0} deliveries</span></h3>
        <EndpointHealth health={ep.health} />
      </section>
      {note && <p role="status">{note}</p>}
      {secret && <SecretOnce secret={secret} onDone={() => setSecret("")} />}
      <ErrorBox error={error} />
      <h2>Delivery log</h2>
      <label className="narrow">Status
        <select value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">all</option><option>pending</option><option>succeeded</option><option>failed</option>
        </select>
      </label>
      <table>
        <thead><tr><th>Delivery</th><th>Event</th><th>Status</th><th>Attempts</th><th>Last</th><th>Updated</th><th /></tr></thead>
        <tbody>
          {deliveries.map((d) => (
            <tr key={d.id}>
              <td><code>{d.id}</code></td>
              <td><a href={link(`/events/${d.eventId}`)} onClick={(e) => { e.preventDefault(); navigate(`/events/${d.eventId}`); }}>{d.eventType}</a></td>
              <td className={d.status === "succeeded" ? "ok" : d.status === "failed" ? "bad" : ""}>{d.status}</td>
              <td><details><summary>{d.attemptCount}</summary><Attempts attempts={d.attempts ?? []} /></details></td>
              <td>{d.lastStatus ?? ""} {d.lastError ?? ""}</td>
              <td><Time at={d.updatedAt} /></td>
              <td><button onClick={async () => {
                const { error } = await api.POST("/api/deliveries/{id}/retry", { params: { path: { id: d.id } } });
                setError(error); load();
              }}>Retry</button></td>
            </tr>
          ))}
        </tbody>
      </table>
      {deliveries.length === 0 && <p className="muted">No deliveries yet.</p>}
      <EndpointForm key={ep.updatedAt} ep={ep} onSaved={() => load()} />
    </section>
  );
}

export function Attempts({ attempts }: { attempts: Schemas["AttemptView"][] }) {
  if (!attempts.length) return <p className="muted">No attempts yet.</p>;
  return (
    <ol className="attempts">
      {attempts.map((a) => (
        <li key={a.attempt}>
          <Time at={a.startedAt} /> · {a.durationMs} ms · status {a.responseStatus ?? "—"} {a.error && <span className="bad">{a.error}</span>}
          <details><summary>Request and response</summary>
            <pre className="json">{Object.entries(a.requestHeaders ?? {}).map(([k, v]) => `${k}: ${v}`).join("\n")}</pre>
            <pre className="json">{Object.entries(a.responseHeaders ?? {}).map(([k, v]) => `${k}: ${v}`).join("\n")}{"\n\n"}{a.responseBody ?? ""}</pre>
          </details>
        </li>
      ))}
    </ol>
  );
}
