import { useCallback, useEffect, useState } from "react";
import { api, type Schemas } from "../api/client";
import { SchemaEditor } from "../components/SchemaEditor";
import { FormPreview } from "../components/FormPreview";
import { ErrorBox } from "../components/ui";
import { previewFields, type Draft } from "../lib/preview";
import { buildSchema, emptyForm, formFromSchema } from "../lib/schema";

type Field = { id: string; key: string; label: string; schema: Schemas["Schema"] };

// Fields manages field groups, the vendor's global fields and a tenant's
// own fields, each with the schema editor. A tenant (its key, or its
// portal) sees the vendor's groups and global fields read-only and edits
// its own fields only.
export function Fields({ who }: { path: string; who?: Schemas["SessionView"] }) {
  const tenant = who?.role === "tenant" ? who.tenantId ?? "" : "";
  const [groups, setGroups] = useState<Schemas["FieldGroup"][]>([]);
  const [group, setGroup] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [draft, setDraft] = useState({ key: "", name: "", description: "" });
  const [editing, setEditing] = useState("");
  const load = useCallback(async () => {
    const { data, error } = await api.GET("/api/field-groups", { params: { query: { pageSize: 500 } } });
    if (error) setError(error); // a list that loads must not hide the last write's error
    setGroups(data?.data ?? []);
  }, []);
  useEffect(() => { load(); }, [load]);
  return (
    <section>
      <h1>Fields</h1>
      <h2>Field groups</h2>
      <table>
        <thead><tr><th>Key</th><th>Name</th><th>Description</th><th /></tr></thead>
        <tbody>
          {groups.map((g) => editing === g.id ? (
            <tr key={g.id}><td colSpan={4}>
              <GroupForm group={g} onCancel={() => setEditing("")} onSaved={(saved) => {
                setEditing("");
                if (group === g.key) setGroup(saved.key);
                load();
              }} />
            </td></tr>
          ) : (
            <tr key={g.id} aria-selected={g.key === group}>
              <td><button className="link" onClick={() => setGroup(g.key)}>{g.key}</button></td>
              <td>{g.name}</td><td>{g.description}</td>
              <td className="actions">{!tenant && <>
                <button onClick={() => setEditing(g.id)}>Edit</button>
                <button className="danger" onClick={async () => {
                  if (!confirm(`Delete field group ${g.key}?`)) return;
                  const { error } = await api.DELETE("/api/field-groups/{fg}", { params: { path: { fg: g.id } } });
                  setError(error); load();
                }}>Delete</button>
              </>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!tenant && <form className="inline" aria-label="New field group" onSubmit={async (e) => {
        e.preventDefault();
        const { error } = await api.POST("/api/field-groups", { body: draft });
        setError(error);
        if (!error) { setDraft({ key: "", name: "", description: "" }); setGroup(draft.key); load(); }
      }}>
        <label>Key<input value={draft.key} onChange={(e) => setDraft({ ...draft, key: e.target.value })} required /></label>
        <label>Name<input value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} required /></label>
        <label>Description<input value={draft.description} onChange={(e) => setDraft({ ...draft, description: e.target.value })} /></label>
        <button type="submit">Create group</button>
      </form>}
      <ErrorBox error={error} />
      {group && <GroupFields group={groups.find((g) => g.key === group)} fixedTenant={tenant} />}
    </section>
  );
}

// GroupForm edits a field group's key, name and description.
function GroupForm({ group, onSaved, onCancel }: {
  group: Schemas["FieldGroup"];
  onSaved: (g: Schemas["FieldGroup"]) => void;
  onCancel: () => void;
}) {
  const [f, setF] = useState({ key: group.key, name: group.name, description: group.description ?? "" });
  const [error, setError] = useState<unknown>(null);
  return (
    <form className="inline" aria-label="Edit field group" onSubmit={async (e) => {
      e.preventDefault();
      const { data, error } = await api.PATCH("/api/field-groups/{fg}", { params: { path: { fg: group.id } }, body: f });
      setError(error);
      if (data) onSaved(data);
    }}>
      <label>Key<input value={f.key} onChange={(e) => setF({ ...f, key: e.target.value })} required /></label>
      <label>Name<input value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} required /></label>
      <label>Description<input value={f.description} onChange={(e) => setF({ ...f, description: e.target.value })} /></label>
      <button type="submit">Save group</button>
      <button type="button" onClick={onCancel}>Cancel</button>
      <ErrorBox error={error} />
    </form>
  );
}

function GroupFields({ group, fixedTenant }: { group?: Schemas["FieldGroup"]; fixedTenant: string }) {
  const [globals, setGlobals] = useState<Schemas["GlobalField"][]>([]);
  const [tenant, setTenant] = useState(fixedTenant);
  const [tenantFields, setTenantFields] = useState<Schemas["TenantField"][]>([]);
  const [error, setError] = useState<unknown>(null);
  // draft is the field being typed into any of the forms below, for the preview.
  const [draft, setDraft] = useState<Draft | null>(null);
  const load = useCallback(async () => {
    if (!group) return;
    const { data, error } = await api.GET("/api/global-fields", { params: { query: { fieldGroupId: group.id, pageSize: 500 } } });
    if (error) setError(error);
    setGlobals(data?.data ?? []);
    if (tenant) {
      const tf = await api.GET("/api/tenants/{tenantId}/field-groups/{fg}/fields",
        { params: { path: { tenantId: tenant, fg: group.id }, query: { pageSize: 500 } } });
      setTenantFields(tf.data?.data ?? []);
    } else setTenantFields([]);
  }, [group, tenant]);
  useEffect(() => { load(); }, [load]);
  if (!group) return null;
  return (
    <>
      <h2>Global fields of {group.name}</h2>
      {fixedTenant ? <FieldTable fields={globals} /> : (
        <>
          <FieldTable fields={globals} onDraft={(d) => setDraft(d && { ...d, scope: "global" })} onDelete={async (f) => {
            const { error } = await api.DELETE("/api/global-fields/{id}", { params: { path: { id: f.id } } });
            setError(error); load();
          }} onSave={async (f, label, schema) => {
            const { error } = await api.PATCH("/api/global-fields/{id}", { params: { path: { id: f.id } }, body: { label, schema } });
            setError(error); load(); return !error;
          }} />
          <FieldForm title="New global field" onDraft={(d) => setDraft(d && { ...d, scope: "global" })} onCreate={async (key, label, schema) => {
            const { error } = await api.POST("/api/global-fields", { body: { key, label, schema, fieldGroupIds: [group.id] } });
            setError(error); load(); return !error;
          }} />
        </>
      )}
      <h2>{fixedTenant ? "Your fields" : "Tenant fields"}</h2>
      {!fixedTenant && <label className="narrow">Tenant<input value={tenant} onChange={(e) => setTenant(e.target.value.trim())} placeholder="tenant id" /></label>}
      {tenant && (
        <>
          <FieldTable fields={tenantFields} onDraft={(d) => setDraft(d && { ...d, scope: "tenant" })} onDelete={async (f) => {
            const { error } = await api.DELETE("/api/tenants/{tenantId}/fields/{id}", { params: { path: { tenantId: tenant, id: f.id } } });
            setError(error); load();
          }} onSave={async (f, label, schema) => {
            const { error } = await api.PATCH("/api/tenants/{tenantId}/fields/{id}", { params: { path: { tenantId: tenant, id: f.id } }, body: { label, schema } });
            setError(error); load(); return !error;
          }} />
          <FieldForm title="New tenant field" onDraft={(d) => setDraft(d && { ...d, scope: "tenant" })} onCreate={async (key, label, schema) => {
            const { error } = await api.POST("/api/tenants/{tenantId}/field-groups/{fg}/fields",
              { params: { path: { tenantId: tenant, fg: group.id } }, body: { key, label, schema } });
            setError(error); load(); return !error;
          }} />
        </>
      )}
      <ErrorBox error={error} />
      <FormPreview fields={previewFields(globals, tenant ? tenantFields : [], draft)}
        note={tenant ? `tenant ${tenant}` : "global fields only: name a tenant above to add its own"} />
    </>
  );
}

function rulesText(s: Schemas["Schema"]): string {
  const v = s.validation ?? {};
  return Object.entries(v).filter(([, x]) => x !== undefined && x !== null && x !== false)
    .map(([k, x]) => (x === true ? k : `${k}: ${Array.isArray(x) ? x.join("|") : x}`)).join(", ");
}

// FieldTable lists fields; without onSave and onDelete it is read-only.
function FieldTable({ fields, onDelete, onSave, onDraft }: {
  fields: Field[];
  onDraft?: (d: Omit<Draft, "scope"> | null) => void;
  onDelete?: (f: Field) => void;
  onSave?: (f: Field, label: string, schema: Schemas["Schema"]) => Promise<boolean>;
}) {
  const [editing, setEditing] = useState<string>("");
  if (!fields.length) return <p className="muted">No fields yet.</p>;
  return (
    <table>
      <thead><tr><th>Key</th><th>Label</th><th>Type</th><th>Rules</th><th /></tr></thead>
      <tbody>
        {fields.map((f) => editing === f.id && onSave ? (
          <tr key={f.id}><td colSpan={5}>
            <FieldForm title={`Edit ${f.key}`} field={f} onDraft={onDraft} onCreate={async (_k, label, schema) => {
              const ok = await onSave(f, label, schema);
              if (ok) { setEditing(""); onDraft?.(null); }
              return ok;
            }} onCancel={() => { setEditing(""); onDraft?.(null); }} />
          </td></tr>
        ) : (
          <tr key={f.id}>
            <td><code>{f.key}</code></td><td>{f.label}</td><td>{f.schema.type}</td><td>{rulesText(f.schema)}</td>
            <td className="actions">
              {onSave && <button onClick={() => setEditing(f.id)}>Edit</button>}
              {onDelete && <button className="danger" onClick={() => confirm(`Delete field ${f.key}?`) && onDelete(f)}>Delete</button>}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function FieldForm({ title, field, onCreate, onCancel, onDraft }: {
  title: string;
  field?: Field;
  /** onDraft hears the field as it is typed, for the preview. */
  onDraft?: (d: Omit<Draft, "scope"> | null) => void;
  onCreate: (key: string, label: string, schema: Schemas["Schema"]) => Promise<boolean>;
  onCancel?: () => void;
}) {
  const [key, setKey] = useState(field?.key ?? "");
  const [label, setLabel] = useState(field?.label ?? "");
  const [form, setForm] = useState(field ? formFromSchema(field.schema) : emptyForm());
  const [touched, setTouched] = useState(false);
  useEffect(() => {
    if (touched || field) onDraft?.({ id: field?.id, key, label, schema: buildSchema(form) });
  }, [key, label, form, touched]); // eslint-disable-line react-hooks/exhaustive-deps
  const change = <T,>(f: (v: T) => void) => (v: T) => { setTouched(true); f(v); };
  return (
    <form className="card" aria-label={title} onSubmit={async (e) => {
      e.preventDefault();
      if (await onCreate(key, label, buildSchema(form)) && !field) {
        setKey(""); setLabel(""); setForm(emptyForm()); setTouched(false); onDraft?.(null);
      }
    }}>
      <h3>{title}</h3>
      <div className="row">
        <label>Field key<input value={key} onChange={(e) => change(setKey)(e.target.value)} required disabled={!!field} /></label>
        <label>Label<input value={label} onChange={(e) => change(setLabel)(e.target.value)} required /></label>
      </div>
      <SchemaEditor form={form} onChange={change(setForm)} />
      <div className="row">
        <button type="submit">{field ? "Save field" : "Create field"}</button>
        {onCancel && <button type="button" onClick={onCancel}>Cancel</button>}
      </div>
    </form>
  );
}
