import { useEffect, useState } from "react";
import { api, type Schemas } from "../api/client";
import { ErrorBox, Json, Time } from "../components/ui";
import { parseValue, showValue } from "../lib/schema";

// Records searches stored values and opens one entity: its values, saved
// through the API's validation, and its history from the event log.
export function Records({ who }: { path: string; who?: Schemas["SessionView"] }) {
  // A tenant (its key, or its portal) works on its own entities only.
  const fixed = who?.role === "tenant" ? who.tenantId ?? "" : "";
  const [q, setQ] = useState({ tenantId: fixed, fieldGroupId: "", fieldKey: "", value: "" });
  const [rows, setRows] = useState<Schemas["FieldValueRow"][]>([]);
  const [error, setError] = useState<unknown>(null);
  const [open, setOpen] = useState({ tenantId: "", fg: "", entityId: "" });
  const search = async () => {
    const query = Object.fromEntries(Object.entries(q).filter(([, v]) => v !== ""));
    const { data, error } = await api.GET("/api/field-values/search", { params: { query: { ...query, pageSize: 100 } } });
    setError(error);
    setRows(data?.data ?? []);
  };
  return (
    <section>
      <h1>Records</h1>
      <form className="inline" aria-label="Search values" onSubmit={(e) => { e.preventDefault(); search(); }}>
        {!fixed && <label>Tenant<input value={q.tenantId} onChange={(e) => setQ({ ...q, tenantId: e.target.value })} /></label>}
        <label>Group<input value={q.fieldGroupId} onChange={(e) => setQ({ ...q, fieldGroupId: e.target.value })} placeholder="id or key" /></label>
        <label>Field<input value={q.fieldKey} onChange={(e) => setQ({ ...q, fieldKey: e.target.value })} /></label>
        <label>Value<input value={q.value} onChange={(e) => setQ({ ...q, value: e.target.value })} /></label>
        <button type="submit">Search</button>
      </form>
      <ErrorBox error={error} />
      {rows.length > 0 && (
        <table>
          <thead><tr><th>Tenant</th><th>Group</th><th>Entity</th><th>Field</th><th>Value</th><th>Updated</th></tr></thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={i}>
                <td>{r.tenantId}</td><td>{r.fieldGroupKey}</td>
                <td><button className="link" onClick={() => setOpen({ tenantId: r.tenantId, fg: r.fieldGroupKey, entityId: r.entityId })}>{r.entityId}</button></td>
                <td><code>{r.fieldKey}</code></td><td>{showValue(r.value)}</td><td><Time at={r.updatedAt} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Open an entity</h2>
      <form className="inline" aria-label="Open entity" onSubmit={(e) => {
        e.preventDefault();
        const f = new FormData(e.currentTarget);
        setOpen({ tenantId: String(f.get("tenantId")), fg: String(f.get("fg")), entityId: String(f.get("entityId")) });
      }}>
        {fixed ? <input type="hidden" name="tenantId" value={fixed} /> : <label>Tenant<input name="tenantId" defaultValue={open.tenantId} required /></label>}
        <label>Group<input name="fg" defaultValue={open.fg} required /></label>
        <label>Entity<input name="entityId" defaultValue={open.entityId} required /></label>
        <button type="submit">Open</button>
      </form>
      {open.entityId && <Entity key={`${open.tenantId}/${open.fg}/${open.entityId}`} {...open} />}
    </section>
  );
}

function Entity({ tenantId, fg, entityId }: { tenantId: string; fg: string; entityId: string }) {
  const [fields, setFields] = useState<Schemas["SchemaField"][]>([]);
  const [values, setValues] = useState<Record<string, string>>({});
  const [version, setVersion] = useState(0);
  const [history, setHistory] = useState<Schemas["Event"][]>([]);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const path = { tenantId, fg, entityId };
  const load = async () => {
    const s = await api.GET("/api/tenants/{tenantId}/field-groups/{fg}/schema", { params: { path: { tenantId, fg } } });
    if (s.error) return setError(s.error);
    const v = await api.GET("/api/tenants/{tenantId}/field-groups/{fg}/entities/{entityId}/values", { params: { path } });
    if (v.error) return setError(v.error);
    // The boxes appear with their values: a choice made between the two
    // answers would otherwise be overwritten by the stored values.
    setFields(s.data?.data ?? []);
    setValues(Object.fromEntries(Object.entries(v.data?.data ?? {}).map(([k, x]) => [k, showValue(x)])));
    setVersion(v.data?.version ?? 0);
    const ev = await api.GET("/api/events", { params: { query: { tenantId, type: "entity.updated", pageSize: 500 } } });
    setHistory((ev.data?.data ?? []).filter((e) => (e.payload as { entityId?: string })?.entityId === entityId));
  };
  useEffect(() => { load(); }, []); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <div className="card">
      <h3>{fg} · {entityId} <span className="muted">tenant {tenantId}, version {version}</span></h3>
      <form aria-label="Entity values" onSubmit={async (e) => {
        e.preventDefault();
        const body = Object.fromEntries(fields.map((f) => [f.key, parseValue(f.schema.type, values[f.key] ?? "")]));
        const { error } = await api.POST("/api/tenants/{tenantId}/field-groups/{fg}/entities/{entityId}/values", { params: { path }, body });
        setError(error);
        setSaved(!error);
        if (!error) load();
      }}>
        {fields.map((f) => (
          <label key={f.key}>
            {f.label} <span className="muted">{f.key} · {f.schema.type}{f.scope === "tenant" ? " · tenant" : ""}{f.schema.validation?.required ? " · required" : ""}</span>
            {f.schema.type === "select" ? (
              <select value={values[f.key] ?? ""} onChange={(e) => setValues({ ...values, [f.key]: e.target.value })}>
                <option value="">—</option>
                {(f.schema.validation?.options ?? []).map((o) => <option key={o}>{o}</option>)}
              </select>
            ) : (
              <input value={values[f.key] ?? ""} placeholder={f.schema.ui?.placeholder}
                onChange={(e) => setValues({ ...values, [f.key]: e.target.value })} />
            )}
            {f.schema.ui?.helpText && <small className="muted">{f.schema.ui.helpText}</small>}
          </label>
        ))}
        {fields.length === 0 && <p className="muted">This group has no fields for this tenant.</p>}
        <ErrorBox error={error} />
        {saved && <p role="status" className="ok">Saved.</p>}
        <button type="submit" disabled={!fields.length}>Save values</button>
      </form>
      <h3>History</h3>
      {history.length === 0 ? <p className="muted">No changes yet.</p> : (
        <table>
          <thead><tr><th>When</th><th>Changed</th><th>Values after</th></tr></thead>
          <tbody>
            {history.map((e) => {
              const p = e.payload as { changedKeys?: string[]; values?: unknown };
              return <tr key={e.id}><td><Time at={e.occurredAt} /></td><td>{(p.changedKeys ?? []).join(", ")}</td><td><Json value={p.values} /></td></tr>;
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}
