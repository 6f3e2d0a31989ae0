import { useCallback, useEffect, useState } from "react";
import { api, type Schemas } from "../api/client";
import { ErrorBox, Time } from "../components/ui";

// Settings holds what automations use and who may call the API: variables
// and secrets (a secret's value is write-only), OAuth2 connections, and API
// keys (the key itself shown once).
export function Settings({ who }: { path: string; who?: Schemas["SessionView"] }) {
  const admin = who?.role !== "tenant";
  return (
    <section>
      <h1>Settings</h1>
      <Variables fixedTenant={admin ? "" : who?.tenantId ?? ""} />
      <Connections fixedTenant={admin ? "" : who?.tenantId ?? ""} />
      {admin && <Keys />}
    </section>
  );
}

function Variables({ fixedTenant }: { fixedTenant: string }) {
  const [tenant, setTenant] = useState(fixedTenant);
  const [vars, setVars] = useState<Schemas["Variable"][]>([]);
  const [error, setError] = useState<unknown>(null);
  const [draft, setDraft] = useState({ name: "", value: "", secret: false, shared: false });
  const [replacing, setReplacing] = useState("");
  const load = useCallback(async () => {
    const res = tenant
      ? await api.GET("/api/tenants/{tenantId}/variables", { params: { path: { tenantId: tenant } } })
      : await api.GET("/api/variables");
    if (res.error) setError(res.error);
    setVars(res.data?.data ?? []);
  }, [tenant]);
  useEffect(() => { load(); }, [load]);
  const put = async (name: string, body: Schemas["VariableInput"]) => {
    const res = tenant
      ? await api.PUT("/api/tenants/{tenantId}/variables/{name}", { params: { path: { tenantId: tenant, name } }, body })
      : await api.PUT("/api/variables/{name}", { params: { path: { name } }, body });
    setError(res.error);
    load();
    return !res.error;
  };
  return (
    <>
      <h2>Variables and secrets</h2>
      <p className="muted">Templates read them as <code>{"{{vars.name}}"}</code> and <code>{"{{secrets.name}}"}</code>. A secret is stored sealed and never shown again.</p>
      {!fixedTenant && <label className="narrow">Tenant (empty: global)<input value={tenant} onChange={(e) => setTenant(e.target.value.trim())} /></label>}
      <table>
        <thead><tr><th>Name</th><th>Value</th><th>Kind</th><th>Updated</th><th /></tr></thead>
        <tbody>
          {vars.map((v) => (
            <tr key={v.name}>
              <td><code>{v.name}</code></td>
              <td>{v.secret ? <span className="muted">•••• set</span> : <code>{v.value}</code>}</td>
              <td>{v.secret ? "secret" : v.shared ? "variable, shared with tenants" : "variable"}</td>
              <td><Time at={v.updatedAt} /></td>
              <td className="actions">
                <button onClick={() => { setReplacing(v.name); setDraft({ name: v.name, value: v.secret ? "" : v.value ?? "", secret: v.secret, shared: v.shared }); }}>
                  {v.secret ? "Replace" : "Edit"}</button>
                <button className="danger" onClick={async () => {
                  if (!confirm(`Delete ${v.name}?`)) return;
                  const res = tenant
                    ? await api.DELETE("/api/tenants/{tenantId}/variables/{name}", { params: { path: { tenantId: tenant, name: v.name } } })
                    : await api.DELETE("/api/variables/{name}", { params: { path: { name: v.name } } });
                  setError(res.error); load();
                }}>Delete</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {vars.length === 0 && <p className="muted">No variables yet.</p>}
      <form className="card" aria-label="Variable" onSubmit={async (e) => {
        e.preventDefault();
        const ok = await put(draft.name, { value: draft.value, secret: draft.secret, ...(!tenant && !draft.secret ? { shared: draft.shared } : {}) });
        if (ok) { setDraft({ name: "", value: "", secret: false, shared: false }); setReplacing(""); }
      }}>
        <h3>{replacing ? `Set ${replacing}` : "New variable or secret"}</h3>
        <div className="row">
          <label>Name<input value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} required disabled={!!replacing}
            pattern="[A-Za-z_][A-Za-z0-9_]{0,63}" title="letters, digits and _, not starting with a digit" /></label>
          <label>Value<input type={draft.secret ? "password" : "text"} autoComplete="off" value={draft.value}
            onChange={(e) => setDraft({ ...draft, value: e.target.value })} /></label>
        </div>
        <div className="row">
          <label className="check"><input type="checkbox" checked={draft.secret} disabled={!!replacing} onChange={(e) => setDraft({ ...draft, secret: e.target.checked })} />Secret (write-only)</label>
          {!tenant && !draft.secret && <label className="check"><input type="checkbox" checked={draft.shared} onChange={(e) => setDraft({ ...draft, shared: e.target.checked })} />Shared with tenants' automations</label>}
        </div>
        <ErrorBox error={error} />
        <div className="row">
          <button type="submit">{replacing ? "Save" : draft.secret ? "Save secret" : "Save variable"}</button>
          {replacing && <button type="button" onClick={() => { setReplacing(""); setDraft({ name: "", value: "", secret: false, shared: false }); }}>Cancel</button>}
        </div>
      </form>
    </>
  );
}

type ConnDraft = { name: string; tokenUrl: string; clientId: string; clientSecret: string; grantType: "client_credentials" | "refresh_token"; refreshToken: string; scopes: string; tenantId: string };
const emptyConn = (tenantId: string): ConnDraft => ({ name: "", tokenUrl: "", clientId: "", clientSecret: "", grantType: "client_credentials", refreshToken: "", scopes: "", tenantId });

function Connections({ fixedTenant }: { fixedTenant: string }) {
  const [conns, setConns] = useState<Schemas["OAuth2Connection"][]>([]);
  const [error, setError] = useState<unknown>(null);
  const [editing, setEditing] = useState<Schemas["OAuth2Connection"] | null>(null);
  const [d, setD] = useState<ConnDraft>(emptyConn(fixedTenant));
  const load = useCallback(async () => {
    const { data, error } = await api.GET("/api/oauth2-connections", { params: { query: { pageSize: 500 } } });
    if (error) setError(error);
    setConns(data?.data ?? []);
  }, []);
  useEffect(() => { load(); }, [load]);
  const scopes = (s: string) => s.split(/[\s,]+/).filter(Boolean);
  const reset = () => { setEditing(null); setD(emptyConn(fixedTenant)); };
  return (
    <>
      <h2>OAuth2 connections</h2>
      <table>
        <thead><tr><th>Name</th><th>Token URL</th><th>Client</th><th>Grant</th><th>Scopes</th><th>Tenant</th><th /></tr></thead>
        <tbody>
          {conns.map((c) => (
            <tr key={c.id}>
              <td>{c.name} <code className="muted">{c.id}</code></td><td>{c.tokenUrl}</td><td>{c.clientId}</td><td>{c.grantType}</td>
              <td>{(c.scopes ?? []).join(" ")}</td><td>{c.tenantId ?? "all"}</td>
              <td className="actions">
                <button onClick={() => { setEditing(c); setD({ ...emptyConn(c.tenantId ?? ""), name: c.name, tokenUrl: c.tokenUrl, clientId: c.clientId,
                  grantType: c.grantType as ConnDraft["grantType"], scopes: (c.scopes ?? []).join(" ") }); }}>Edit</button>
                <button className="danger" onClick={async () => {
                  if (!confirm(`Delete connection ${c.name}?`)) return;
                  const { error } = await api.DELETE("/api/oauth2-connections/{id}", { params: { path: { id: c.id } } });
                  setError(error); load();
                }}>Delete</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {conns.length === 0 && <p className="muted">No connections yet.</p>}
      <form className="card" aria-label="OAuth2 connection" onSubmit={async (e) => {
        e.preventDefault();
        const res = editing
          ? await api.PATCH("/api/oauth2-connections/{id}", { params: { path: { id: editing.id } }, body: {
            name: d.name, tokenUrl: d.tokenUrl, clientId: d.clientId, grantType: d.grantType, scopes: scopes(d.scopes),
            ...(d.clientSecret ? { clientSecret: d.clientSecret } : {}), ...(d.refreshToken ? { refreshToken: d.refreshToken } : {}) } })
          : await api.POST("/api/oauth2-connections", { body: {
            name: d.name, tokenUrl: d.tokenUrl, clientId: d.clientId, clientSecret: d.clientSecret, grantType: d.grantType, scopes: scopes(d.scopes),
            ...(d.refreshToken ? { refreshToken: d.refreshToken } : {}), ...(d.tenantId ? { tenantId: d.tenantId } : {}) } });
        setError(res.error);
        if (!res.error) { reset(); load(); }
      }}>
        <h3>{editing ? `Edit ${editing.name}` : "New connection"}</h3>
        <div className="row">
          <label>Connection name<input value={d.name} onChange={(e) => setD({ ...d, name: e.target.value })} required /></label>
          <label>Token URL<input value={d.tokenUrl} onChange={(e) => setD({ ...d, tokenUrl: e.target.value })} required placeholder="https://auth.example.com/oauth/token" /></label>
        </div>
        <div className="row">
          <label>Client id<input value={d.clientId} onChange={(e) => setD({ ...d, clientId: e.target.value })} required /></label>
          <label>Client secret{editing && <span className="muted"> (empty: keep)</span>}<input type="password" autoComplete="off" value={d.clientSecret}
            onChange={(e) => setD({ ...d, clientSecret: e.target.value })} required={!editing} /></label>
        </div>
        <div className="row">
          <label>Grant<select value={d.grantType} onChange={(e) => setD({ ...d, grantType: e.target.value as ConnDraft["grantType"] })}>
            <option value="client_credentials">client credentials</option><option value="refresh_token">refresh token</option>
          </select></label>
          {d.grantType === "refresh_token" && <label>Refresh token{editing && <span className="muted"> (empty: keep)</span>}<input type="password" autoComplete="off"
            value={d.refreshToken} onChange={(e) => setD({ ...d, refreshToken: e.target.value })} /></label>}
          <label>Scopes (space-separated)<input value={d.scopes} onChange={(e) => setD({ ...d, scopes: e.target.value })} /></label>
          {!editing && !fixedTenant && <label>Tenant (empty: all)<input value={d.tenantId} onChange={(e) => setD({ ...d, tenantId: e.target.value })} /></label>}
        </div>
        <ErrorBox error={error} />
        <div className="row">
          <button type="submit">{editing ? "Save connection" : "Create connection"}</button>
          {editing && <button type="button" onClick={reset}>Cancel</button>}
        </div>
      </form>
    </>
  );
}

function Keys() {
  const [keys, setKeys] = useState<Schemas["Key"][]>([]);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<Schemas["CreatedKey"] | null>(null);
  const [copied, setCopied] = useState(false);
  const [d, setD] = useState({ name: "", role: "tenant" as "admin" | "tenant", tenantId: "", expiresIn: "" });
  const load = useCallback(async () => {
    const { data, error } = await api.GET("/api/keys", { params: { query: { pageSize: 500 } } });
    if (error) setError(error);
    setKeys(data?.data ?? []);
  }, []);
  useEffect(() => { load(); }, [load]);
  return (
    <>
      <h2>API keys</h2>
      <table>
        <thead><tr><th>Name</th><th>Key</th><th>Role</th><th>Tenant</th><th>Created</th><th>Last used</th><th>Expires</th><th>State</th><th /></tr></thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k.id}>
              <td>{k.name || <span className="muted">—</span>}</td>
              <td><code>{k.prefix ? `ffk_${k.prefix}…` : k.id}</code></td>
              <td>{k.role}</td><td>{k.tenantId ?? ""}</td>
              <td><Time at={k.createdAt} /></td><td><Time at={k.lastUsedAt} /></td><td><Time at={k.expiresAt} /></td>
              <td>{k.active ? <span className="ok">active</span> : <span className="bad">{k.revokedAt ? "revoked" : "expired"}</span>}</td>
              <td>{k.active && <button className="danger" aria-label={`Revoke ${k.name || k.id}`} onClick={async () => {
                if (!confirm(`Revoke key ${k.name || k.id}? It stops working at once.`)) return;
                const { error } = await api.DELETE("/api/keys/{id}", { params: { path: { id: k.id } } });
                setError(error); load();
              }}>Revoke</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {created && (
        <div className="card notice" role="status">
          <p>API key {created.name ? <strong>{created.name}</strong> : ""} — shown once, store it now:</p>
          <code className="secret">{created.key}</code>
          <div className="row">
            <button onClick={() => navigator.clipboard?.writeText(created.key).then(() => setCopied(true), () => setCopied(false))}>{copied ? "Copied" : "Copy"}</button>
            <button onClick={() => { setCreated(null); setCopied(false); }}>Done</button>
          </div>
        </div>
      )}
      <form className="card" aria-label="New API key" onSubmit={async (e) => {
        e.preventDefault();
        const { data, error } = await api.POST("/api/keys", { body: {
          role: d.role, ...(d.name ? { name: d.name } : {}), ...(d.role === "tenant" ? { tenantId: d.tenantId } : {}),
          ...(d.expiresIn ? { expiresIn: d.expiresIn } : {}) } });
        setError(error);
        if (data) { setCreated(data); setCopied(false); setD({ ...d, name: "" }); load(); }
      }}>
        <h3>New API key</h3>
        <div className="row">
          <label>Key name<input value={d.name} onChange={(e) => setD({ ...d, name: e.target.value })} placeholder="billing service" /></label>
          <label>Role<select value={d.role} onChange={(e) => setD({ ...d, role: e.target.value as "admin" | "tenant" })}>
            <option value="tenant">tenant: one tenant's data</option><option value="admin">admin: everything</option>
          </select></label>
          {d.role === "tenant" && <label>Tenant<input value={d.tenantId} onChange={(e) => setD({ ...d, tenantId: e.target.value })} required /></label>}
          <label>Expires in<input value={d.expiresIn} onChange={(e) => setD({ ...d, expiresIn: e.target.value })} placeholder="720h (empty: never)" /></label>
        </div>
        <ErrorBox error={error} />
        <button type="submit">Create key</button>
      </form>
    </>
  );
}
