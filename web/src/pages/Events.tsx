import { useEffect, useState } from "react";
import { api, requestHeaders, type Schemas } from "../api/client";
import { follow } from "../lib/stream";
import { Attempts } from "./Webhooks";
import { ErrorBox, Json, Time } from "../components/ui";
import { match, link, navigate } from "../lib/router";

// Events lists the event log with filters; an event's page shows its
// payload, its deliveries with every attempt, and its runs.
export function Events({ path }: { path: string; who?: Schemas["SessionView"] }) {
  const id = match(path, "/events")?.[0];
  return id ? <EventDetail id={id} /> : <EventList />;
}

function EventList() {
  const [filter, setFilter] = useState({ type: "", tenantId: "" });
  const [events, setEvents] = useState<Schemas["Event"][]>([]);
  const [cursor, setCursor] = useState("");
  const [error, setError] = useState<unknown>(null);
  const load = async (more = false) => {
    const query: Record<string, string | number> = { pageSize: 50 };
    if (filter.type) query.type = filter.type;
    if (filter.tenantId) query.tenantId = filter.tenantId;
    if (more && cursor) query.cursor = cursor;
    const { data, error } = await api.GET("/api/events", { params: { query } });
    setError(error);
    setEvents(more ? [...events, ...(data?.data ?? [])] : (data?.data ?? []));
    setCursor(data?.nextCursor ?? "");
  };
  useEffect(() => { load(); }, []); // eslint-disable-line react-hooks/exhaustive-deps
  // Live: new events arrive on the stream (filtered like the list) and go on top.
  const [live, setLive] = useState(false);
  useEffect(() => {
    if (!live) return;
    const abort = new AbortController();
    const q = new URLSearchParams();
    if (filter.type) q.set("type", filter.type);
    if (filter.tenantId) q.set("tenantId", filter.tenantId);
    follow(`/api/events/stream?${q}`, requestHeaders(), abort.signal, (m) => {
      if (m.event !== "event") return;
      const e = JSON.parse(m.data) as Schemas["Event"];
      setEvents((list) => (list.some((x) => x.id === e.id) ? list : [e, ...list]));
    }).catch((err) => { if (!abort.signal.aborted) { setError(err); setLive(false); } });
    return () => abort.abort();
  }, [live, filter.type, filter.tenantId]);
  return (
    <section>
      <h1>Events</h1>
      <form className="inline" aria-label="Filter events" onSubmit={(e) => { e.preventDefault(); load(); }}>
        <label>Type<input value={filter.type} onChange={(e) => setFilter({ ...filter, type: e.target.value })} placeholder="field_value.saved" /></label>
        <label>Tenant<input value={filter.tenantId} onChange={(e) => setFilter({ ...filter, tenantId: e.target.value })} /></label>
        <button type="submit">Filter</button>
        <label className="check"><input type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} />Live</label>
      </form>
      {live && <p className="muted" role="status">Live: new events appear as they are stored.</p>}
      <ErrorBox error={error} />
      <table>
        <thead><tr><th>Event</th><th>Type</th><th>Tenant</th><th>When</th></tr></thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.id}>
              <td><a href={link(`/events/${e.id}`)} onClick={(ev) => { ev.preventDefault(); navigate(`/events/${e.id}`); }}><code>{e.id}</code></a></td>
              <td>{e.type}</td><td>{e.tenantId}</td><td><Time at={e.occurredAt} /></td>
            </tr>
          ))}
        </tbody>
      </table>
      {events.length === 0 && <p className="muted">No events.</p>}
      {cursor && <button onClick={() => load(true)}>Load more</button>}
    </section>
  );
}

function EventDetail({ id }: { id: string }) {
  const [ev, setEv] = useState<Schemas["EventDetail"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api.GET("/api/events/{id}", { params: { path: { id } } }).then(({ data, error }) => { setEv(data ?? null); setError(error); });
  }, [id]);
  return (
    <section>
      <p><a href={link("/events")} onClick={(e) => { e.preventDefault(); navigate("/events"); }}>← Events</a></p>
      <ErrorBox error={error} />
      {ev && (
        <>
          <h1>{ev.type} <code className="muted">{ev.id}</code></h1>
          <p>Tenant {ev.tenantId || "—"} · <Time at={ev.occurredAt} /></p>
          <h2>Payload</h2>
          <Json value={ev.payload} />
          <h2>Deliveries</h2>
          {(ev.deliveries ?? []).length === 0 && <p className="muted">No deliveries.</p>}
          {(ev.deliveries ?? []).map((d) => (
            <div className="card" key={d.id}>
              <strong>{d.status}</strong> to <code>{d.endpointId}</code> · {d.attemptCount} attempt(s)
              <Attempts attempts={d.attempts ?? []} />
            </div>
          ))}
          <h2>Runs</h2>
          {(ev.runs ?? []).length === 0 && <p className="muted">No automation runs.</p>}
          {(ev.runs ?? []).map((r) => (
            <div className="card" key={r.id}>
              <strong>{r.state}</strong> · automation <code>{r.automationId}</code> {r.error && <span className="bad">{r.error}</span>}
              <Json value={r.steps} />
            </div>
          ))}
        </>
      )}
    </section>
  );
}
