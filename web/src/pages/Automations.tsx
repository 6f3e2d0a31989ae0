import { useCallback, useEffect, useMemo, useState } from "react";
import { api, type Schemas } from "../api/client";
import { TemplateInput } from "../components/TemplateInput";
import { ErrorBox, ExpressionStatus, Json, Time } from "../components/ui";
import {
  actionLabels, authTypes, bodyTypes, buildAutomation, conditionText, emptyAction, emptyAutomation, formFromAutomation, methods, move,
  nextStepName, patchOf, type ActionForm, type ActionType, type AutomationForm, type Pair, type TriggerKind,
} from "../lib/automation";
import { kindOf, opLabels, opsFor, parseCondition, type CondOp, type CondRow } from "../lib/cel";
import { eventMembers, type PathContext } from "../lib/paths";
import { fieldErrors } from "../lib/problem";
import { parseValue } from "../lib/schema";
import { sampleEvent } from "../lib/automation";
import { match, link, navigate } from "../lib/router";
import { SecretOnce } from "./Webhooks";

// Automations lists the rules, builds one without JSON (trigger, condition
// rows or raw CEL, actions in order), activates it, and shows its run log
// with every step's request and response.
export function Automations({ path, who }: { path: string; who?: Schemas["SessionView"] }) {
  const id = match(path, "/automations")?.[0];
  return id ? <AutomationPage id={id} who={who} /> : <AutomationList />;
}

type Field = { key: string; label: string; type: string; options: string[] };

const builtinEvents = ["field_value.saved", "field_value.deleted", "entity.updated", "field_value.*", "entity.*", "field_group.*",
  "global_field.*", "tenant_field.*", "automation.run_failed", "webhook.test", "*"];

const go = (to: string) => (e: React.MouseEvent) => { e.preventDefault(); navigate(to); };

function triggerSummary(t: Schemas["Trigger"]): string {
  if (t.sla) return `${t.sla.fieldGroup}.${t.sla.fieldKey} held ${t.sla.value === undefined ? "any value" : JSON.stringify(t.sla.value)} for ${t.sla.after}`;
  if (t.date) return `${t.date.fieldGroup}.${t.date.fieldKey} reached${t.date.offset ? ` ${t.date.offset}` : ""}`;
  let s = t.event ?? "";
  if (t.fieldGroup || t.fieldKey) s += ` on ${[t.fieldGroup, t.fieldKey].filter(Boolean).join(".")}`;
  if (t.from !== undefined && t.from !== null) s += ` from ${JSON.stringify(t.from)}`;
  if (t.to !== undefined && t.to !== null) s += ` to ${JSON.stringify(t.to)}`;
  return s + (t.condition ? ` if ${t.condition}` : "");
}

function AutomationList() {
  const [list, setList] = useState<Schemas["Automation"][]>([]);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api.GET("/api/automations", { params: { query: { pageSize: 500 } } }).then(({ data, error }) => { setError(error); setList(data?.data ?? []); });
  }, []);
  return (
    <section>
      <h1>Automations</h1>
      <p><a href={link("/automations/new")} onClick={go("/automations/new")}>New automation</a></p>
      <ErrorBox error={error} />
      <table>
        <thead><tr><th>Name</th><th>Trigger</th><th>Steps</th><th>Tenant</th><th>State</th><th>Updated</th></tr></thead>
        <tbody>
          {list.map((a) => (
            <tr key={a.id}>
              <td><a href={link(`/automations/${a.id}`)} onClick={go(`/automations/${a.id}`)}>{a.name}</a></td>
              <td><code>{triggerSummary(a.trigger)}</code></td>
              <td>{(a.actions ?? []).map((x) => x.name).join(" → ")}</td>
              <td>{a.tenantId ?? "all"}</td>
              <td><State a={a} /></td>
              <td><Time at={a.updatedAt} /></td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.length === 0 && <p className="muted">No automations yet.</p>}
    </section>
  );
}

function State({ a }: { a: Schemas["Automation"] }) {
  if (a.health?.state === "broken") return <span className="bad" title={a.health.error}>broken</span>;
  return a.active ? <span className="ok">active</span> : <span className="muted">inactive</span>;
}

function AutomationPage({ id, who }: { id: string; who?: Schemas["SessionView"] }) {
  const isNew = id === "new";
  const [a, setA] = useState<Schemas["Automation"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [secret, setSecret] = useState("");
  const load = useCallback(async () => {
    if (isNew) return setA(null);
    const { data, error } = await api.GET("/api/automations/{id}", { params: { path: { id } } });
    setA(data ?? null);
    setError(error);
  }, [id, isNew]);
  useEffect(() => { load(); }, [load]);
  const initial = useMemo(() => {
    if (a) return formFromAutomation(a);
    const f = emptyAutomation();
    if (who?.role === "tenant") f.tenantId = who.tenantId ?? "";
    return f;
  }, [a, who]);
  if (!isNew && !a) return <ErrorBox error={error} />;
  return (
    <section>
      <p><a href={link("/automations")} onClick={go("/automations")}>← Automations</a></p>
      <h1>{a ? a.name : "New automation"}</h1>
      {a && (
        <div className="row">
          <span>{<State a={a} />}{a.activatedAt && <span className="muted"> since <Time at={a.activatedAt} /></span>}</span>
          <button onClick={async () => {
            const { data, error } = await api.PATCH("/api/automations/{id}", { params: { path: { id } }, body: { active: !a.active } });
            setError(error);
            if (data) setA(data);
          }}>{a.active ? "Deactivate" : "Activate"}</button>
          <button className="danger" onClick={async () => {
            if (!confirm(`Delete automation ${a.name}?`)) return;
            const { error } = await api.DELETE("/api/automations/{id}", { params: { path: { id } } });
            if (error) return setError(error);
            navigate("/automations");
          }}>Delete</button>
        </div>
      )}
      {a?.health?.state === "broken" && <p className="error">Broken: {a.health.error}</p>}
      {secret && <SecretOnce secret={secret} onDone={() => setSecret("")} />}
      <ErrorBox error={error} />
      <Builder key={a?.updatedAt ?? "new"} initial={initial} id={a?.id} onSaved={(saved) => {
        setA(saved);
        if (saved.secret) setSecret(saved.secret);
        if (isNew) navigate(`/automations/${saved.id}`);
      }} />
      {a && <RunLog automationId={a.id} />}
    </section>
  );
}

// --- data the builder offers ---

function useGroups() {
  const [groups, setGroups] = useState<Schemas["FieldGroup"][]>([]);
  useEffect(() => { api.GET("/api/field-groups", { params: { query: { pageSize: 500 } } }).then(({ data }) => setGroups(data?.data ?? [])); }, []);
  return groups;
}

function useFields(groups: Schemas["FieldGroup"][], group: string, tenantId: string): Field[] {
  const [fields, setFields] = useState<Field[]>([]);
  useEffect(() => {
    const g = groups.find((x) => x.key === group || x.id === group);
    if (!g) { setFields([]); return; }
    const to = (k: string, label: string, s: Schemas["Schema"]): Field => ({ key: k, label, type: s.type, options: s.validation?.options ?? [] });
    if (tenantId) {
      api.GET("/api/tenants/{tenantId}/field-groups/{fg}/schema", { params: { path: { tenantId, fg: g.id } } })
        .then(({ data }) => setFields((data?.data ?? []).map((f) => to(f.key, f.label, f.schema))));
    } else {
      api.GET("/api/global-fields", { params: { query: { fieldGroupId: g.id, pageSize: 500 } } })
        .then(({ data }) => setFields((data?.data ?? []).map((f) => to(f.key, f.label, f.schema))));
    }
  }, [groups, group, tenantId]);
  return fields;
}

function useVariables(tenantId: string) {
  const [vars, setVars] = useState<Schemas["Variable"][]>([]);
  useEffect(() => {
    (async () => {
      const g = await api.GET("/api/variables");
      let all = g.data?.data ?? [];
      if (tenantId) {
        const t = await api.GET("/api/tenants/{tenantId}/variables", { params: { path: { tenantId } } });
        const own = t.data?.data ?? [];
        all = [...own, ...all.filter((v) => !v.secret && v.shared && !own.some((o) => o.name === v.name))];
      }
      setVars(all);
    })();
  }, [tenantId]);
  return vars;
}

function useConnections(tenantId: string) {
  const [conns, setConns] = useState<Schemas["OAuth2Connection"][]>([]);
  useEffect(() => {
    api.GET("/api/oauth2-connections", { params: { query: { pageSize: 500, ...(tenantId ? { tenantId } : {}) } } })
      .then(({ data }) => setConns(data?.data ?? []));
  }, [tenantId]);
  return conns;
}

/** errorsAt is the server's messages at loc or under it (loc.x, loc[0]). */
function errorsAt(errs: Record<string, string>, loc: string): string | undefined {
  const out = Object.entries(errs).filter(([k]) => k === loc || k.startsWith(loc + ".") || k.startsWith(loc + "["))
    .map(([k, m]) => (k === loc ? m : `${k.slice(loc.length + 1)}: ${m}`));
  return out.length ? out.join("; ") : undefined;
}

function Err({ msg }: { msg?: string }) {
  return msg ? <small className="bad field-error">{msg}</small> : null;
}

// --- the builder ---

function Builder({ initial, id, onSaved }: { initial: AutomationForm; id?: string; onSaved: (a: Schemas["Automation"]) => void }) {
  const [f, setF] = useState<AutomationForm>(initial);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const set = (p: Partial<AutomationForm>) => { setF({ ...f, ...p }); setSaved(false); };
  const groups = useGroups();
  const fields = useFields(groups, f.fieldGroup, f.tenantId.trim());
  const vars = useVariables(f.tenantId.trim());
  const conns = useConnections(f.tenantId.trim());
  const errs = fieldErrors(error);
  const e = (loc: string) => errorsAt(errs, loc);
  const field = fields.find((x) => x.key === f.fieldKey);
  const eventType = f.kind === "sla" ? "automation.sla_reached" : f.kind === "date" ? "automation.date_reached" : f.event;
  const ctxFor = (i: number): PathContext => ({
    eventType, fields: fields.map((x) => ({ key: x.key, type: x.type })),
    vars: vars.filter((v) => !v.secret).map((v) => v.name), secrets: vars.filter((v) => v.secret).map((v) => v.name),
    steps: f.actions.slice(0, i).map((a) => ({ name: a.name, captured: a.type === "http" && a.captureResponse })),
  });
  const setAction = (i: number, a: ActionForm) => set({ actions: f.actions.map((x, j) => (j === i ? a : x)) });
  const addAction = (type: ActionType) => set({ actions: [...f.actions, emptyAction(type, nextStepName(f.actions, type))] });
  const kind = (k: TriggerKind) => set({ kind: k, event: k === "field" ? "field_value.saved" : k === "event" ? (f.event || "entity.updated") : f.event });
  const types = Object.fromEntries(fields.map((x) => [x.key, x.type]));
  return (
    <form className="card" aria-label="Automation" onSubmit={async (ev) => {
      ev.preventDefault();
      const body = buildAutomation(f, types);
      const res = id
        ? await api.PATCH("/api/automations/{id}", { params: { path: { id } }, body: patchOf(body) })
        : await api.POST("/api/automations", { body });
      setError(res.error);
      if (res.data) { setSaved(true); onSaved(res.data); }
    }}>
      <div className="row">
        <div className="tpl"><label>Name<input value={f.name} onChange={(x) => set({ name: x.target.value })} required /></label><Err msg={e("name")} /></div>
        <div className="tpl"><label>Tenant (empty: every tenant)<input value={f.tenantId} disabled={!!id} onChange={(x) => set({ tenantId: x.target.value })} /></label><Err msg={e("tenantId")} /></div>
      </div>
      <label>Description<input value={f.description} onChange={(x) => set({ description: x.target.value })} /></label>

      <fieldset className="box" aria-label="Trigger">
        <legend>Trigger</legend>
        <div className="row" role="radiogroup" aria-label="Trigger kind">
          {([["field", "A field changes"], ["event", "An event"], ["sla", "A value is held too long (SLA)"], ["date", "A date is reached"]] as const).map(([k, l]) => (
            <label className="check" key={k}><input type="radio" name="trigger-kind" checked={f.kind === k} onChange={() => kind(k)} />{l}</label>
          ))}
        </div>
        {f.kind === "event" && (
          <div className="tpl"><label>Event type
            <input list="event-types" value={f.event} onChange={(x) => set({ event: x.target.value })} placeholder="entity.updated, invoice.*, *" required />
          </label><Err msg={e("trigger.event")} /></div>
        )}
        <datalist id="event-types">{builtinEvents.map((t) => <option key={t} value={t} />)}</datalist>
        <div className="row">
          <div className="tpl"><label>Field group
            <select value={f.fieldGroup} onChange={(x) => set({ fieldGroup: x.target.value, fieldKey: "", from: "", to: "", slaValue: "" })}>
              <option value="">{f.kind === "event" ? "any" : "choose…"}</option>
              {groups.map((g) => <option key={g.id} value={g.key}>{g.name} ({g.key})</option>)}
            </select>
          </label><Err msg={e("trigger.fieldGroup") ?? e("trigger.sla.fieldGroup") ?? e("trigger.date.fieldGroup")} /></div>
          {f.kind !== "event" && (
            <div className="tpl"><label>Field
              <select value={f.fieldKey} onChange={(x) => set({ fieldKey: x.target.value, from: "", to: "", slaValue: "" })}>
                <option value="">{f.kind === "field" ? "any" : "choose…"}</option>
                {fields.filter((x) => f.kind !== "date" || x.type === "date" || x.type === "datetime")
                  .map((x) => <option key={x.key} value={x.key}>{x.label} ({x.key})</option>)}
              </select>
            </label><Err msg={e("trigger.fieldKey") ?? e("trigger.sla.fieldKey") ?? e("trigger.date.fieldKey")} /></div>
          )}
        </div>
        {f.kind === "field" && (
          <div className="row">
            <label>Change
              <select value={f.event} onChange={(x) => set({ event: x.target.value })}>
                <option value="field_value.saved">saved</option><option value="field_value.deleted">deleted</option>
              </select>
            </label>
            <div className="tpl"><ValueBox label="From" field={field} value={f.from} onChange={(v) => set({ from: v })} any="any value" /><Err msg={e("trigger.from")} /></div>
            <div className="tpl"><ValueBox label="To" field={field} value={f.to} onChange={(v) => set({ to: v })} any="any value" /><Err msg={e("trigger.to")} /></div>
          </div>
        )}
        {f.kind === "sla" && (
          <div className="row">
            <div className="tpl"><ValueBox label="Has held value" field={field} value={f.slaValue} onChange={(v) => set({ slaValue: v })} any="any value" /><Err msg={e("trigger.sla.value")} /></div>
            <div className="tpl"><label>For (duration)<input value={f.after} onChange={(x) => set({ after: x.target.value })} placeholder="72h" /></label><Err msg={e("trigger.sla.after")} /></div>
          </div>
        )}
        {f.kind === "date" && (
          <div className="tpl"><label>Offset (duration, e.g. -24h for a day before)<input value={f.offset} onChange={(x) => set({ offset: x.target.value })} placeholder="0" /></label><Err msg={e("trigger.date.offset")} /></div>
        )}
        <Err msg={e("trigger") && !Object.keys(errs).some((k) => k.startsWith("trigger.")) ? e("trigger") : undefined} />
        <ConditionEditor f={f} set={set} fields={fields} eventType={eventType} triggerField={field} error={e("trigger.condition")} />
      </fieldset>

      <h3>Actions <span className="muted">run in order</span></h3>
      <Err msg={errs["actions"]} />
      {f.actions.map((a, i) => (
        <ActionEditor key={a.uid} i={i} n={f.actions.length} a={a} own={errs[`actions[${i}]`]} onChange={(x) => setAction(i, x)} ctx={ctxFor(i)} e={(l) => e(`actions[${i}]${l}`)}
          groups={groups} fields={fields} tenantId={f.tenantId.trim()} conns={conns}
          onMove={(d) => set({ actions: move(f.actions, i, d) })} onRemove={() => set({ actions: f.actions.filter((_, j) => j !== i) })} />
      ))}
      <div className="row">
        {(["http", "webhook", "set_field"] as const).map((t) => <button type="button" key={t} onClick={() => addAction(t)}>Add {actionLabels[t].toLowerCase()}</button>)}
      </div>
      {!id && <label className="check"><input type="checkbox" checked={f.active} onChange={(x) => set({ active: x.target.checked })} />Active once saved</label>}
      <ErrorBox error={error} />
      {saved && <p role="status" className="ok">Saved.</p>}
      <button type="submit">{id ? "Save automation" : "Create automation"}</button>
      <TestPanel build={() => buildAutomation(f, types)} sample={sampleEvent({ eventType, fieldGroup: f.fieldGroup, fieldKey: f.fieldKey,
        tenantId: f.tenantId.trim(), from: f.from ? parseValue(types[f.fieldKey], f.from) : undefined, to: f.to ? parseValue(types[f.fieldKey], f.to) : undefined })} />
    </form>
  );
}

/** ValueBox picks a value the field can hold: its options, true/false, or text. */
function ValueBox({ label, field, value, onChange, any }: { label: string; field?: Field; value: string; onChange: (v: string) => void; any?: string }) {
  const opts = field?.type === "boolean" ? ["true", "false"] : field?.options ?? [];
  if (opts.length) {
    return (
      <label>{label}
        <select value={value} onChange={(x) => onChange(x.target.value)}>
          {any !== undefined && <option value="">{any}</option>}
          {opts.map((o) => <option key={o} value={o}>{o}</option>)}
        </select>
      </label>
    );
  }
  return <label>{label}<input value={value} onChange={(x) => onChange(x.target.value)} placeholder={any} /></label>;
}

function ConditionEditor({ f, set, fields, eventType, triggerField, error }: {
  f: AutomationForm; set: (p: Partial<AutomationForm>) => void; fields: Field[]; eventType: string; triggerField?: Field; error?: string;
}) {
  const paths = [...fields.map((x) => `entity.values.${x.key}`), "tenant.id", ...eventMembers(eventType, fields).map((m) => `event.${m}`)];
  const fieldOf = (path: string): Field | undefined => {
    const m = /^(?:entity\.values|event\.values|event\.previousValues)\.(.+)$/.exec(path);
    if (m) return fields.find((x) => x.key === m[1]);
    if (path === "event.value" || path === "event.previousValue") return triggerField;
    return undefined;
  };
  const kindFor = (path: string) => (path === "event.version" ? "number" : kindOf(fieldOf(path)?.type));
  const rows = f.condition.rows;
  const setRows = (r: CondRow[]) => set({ condition: { ...f.condition, rows: r } });
  const setRow = (i: number, p: Partial<CondRow>) => setRows(rows.map((r, j) => (j === i ? { ...r, ...p } : r)));
  return (
    <fieldset className="box" aria-label="Condition">
      <legend>Condition <span className="muted">(optional)</span></legend>
      <label className="check"><input type="checkbox" checked={f.conditionMode === "raw"} onChange={(x) => {
        if (x.target.checked) return set({ conditionMode: "raw", conditionRaw: conditionText(f) });
        const parsed = parseCondition(f.conditionRaw);
        if (!parsed) return alert("This condition is more than rows can show; it stays in CEL.");
        set({ conditionMode: "rows", condition: parsed });
      }} />Write CEL by hand</label>
      {f.conditionMode === "raw" ? (
        <label>CEL<textarea rows={3} value={f.conditionRaw} onChange={(x) => set({ conditionRaw: x.target.value })}
          placeholder={'entity.values.country == "DE" && size(entity.values.tags) > 0'} />
          <ExpressionStatus kind="condition" expression={f.conditionRaw} /></label>
      ) : (
        <>
          {rows.length > 1 && (
            <label className="narrow">Join
              <select value={f.condition.join} onChange={(x) => set({ condition: { ...f.condition, join: x.target.value as "&&" | "||" } })}>
                <option value="&&">all rows hold (and)</option><option value="||">any row holds (or)</option>
              </select>
            </label>
          )}
          <datalist id="condition-paths">{paths.map((p) => <option key={p} value={p} />)}</datalist>
          {rows.map((r, i) => {
            const fld = fieldOf(r.path);
            return (
              <div className="row" role="group" aria-label={`Condition row ${i + 1}`} key={i}>
                <label>Path<input list="condition-paths" value={r.path} onChange={(x) => {
                  const k = kindFor(x.target.value);
                  setRow(i, { path: x.target.value, kind: k, op: opsFor(k).includes(r.op) ? r.op : opsFor(k)[0] });
                }} /></label>
                <label>Operator<select value={r.op} onChange={(x) => setRow(i, { op: x.target.value as CondOp })}>
                  {opsFor(r.kind).map((o) => <option key={o} value={o}>{opLabels[o]}</option>)}
                </select></label>
                {r.op !== "set" && r.op !== "unset" && (r.op === "in" || r.op === "contains" || r.op === "startsWith" || r.op === "endsWith" || r.op === "matches"
                  ? <label>Value<input value={r.value} onChange={(x) => setRow(i, { value: x.target.value })} placeholder={r.op === "in" ? "a, b, c" : ""} /></label>
                  : <ValueBox label="Value" field={fld} value={r.value} onChange={(v) => setRow(i, { value: v })} />)}
                <button type="button" onClick={() => setRows(rows.filter((_, j) => j !== i))}>Remove row</button>
              </div>
            );
          })}
          <button type="button" onClick={() => setRows([...rows, { path: "", op: "==", value: "", kind: "string" }])}>Add condition row</button>
          {rows.length > 0 && <p className="muted">CEL: <code>{conditionText(f) || "—"}</code></p>}
        </>
      )}
      <Err msg={error} />
    </fieldset>
  );
}

function Pairs({ title, noun, pairs, onChange, ctx, error, keyOptions }: {
  title: string; noun: string; pairs: Pair[]; onChange: (p: Pair[]) => void; ctx?: PathContext; error?: string; keyOptions?: Field[];
}) {
  const setP = (i: number, p: Partial<Pair>) => onChange(pairs.map((x, j) => (j === i ? { ...x, ...p } : x)));
  return (
    <div className="pairs" role="group" aria-label={title}>
      <strong>{title}</strong>
      {pairs.map((p, i) => {
        const fld = keyOptions?.find((k) => k.key === p.key);
        return (
          <div className="row" key={i}>
            {keyOptions ? (
              <label>{noun}<select value={p.key} onChange={(x) => setP(i, { key: x.target.value })}>
                <option value="">choose…</option>
                {keyOptions.map((k) => <option key={k.key} value={k.key}>{k.label} ({k.key})</option>)}
              </select></label>
            ) : <label>{noun} name<input value={p.key} onChange={(x) => setP(i, { key: x.target.value })} /></label>}
            {fld && (fld.options.length > 0 || fld.type === "boolean") && !p.value.includes("{{")
              ? <ValueBox label={`${noun} value`} field={fld} value={p.value} onChange={(v) => setP(i, { value: v })} any="—" />
              : ctx ? <TemplateInput label={`${noun} value`} value={p.value} onChange={(v) => setP(i, { value: v })} ctx={ctx} />
                : <label>{noun} value<input value={p.value} onChange={(x) => setP(i, { value: x.target.value })} /></label>}
            <button type="button" onClick={() => onChange(pairs.filter((_, j) => j !== i))}>Remove {noun.toLowerCase()}</button>
          </div>
        );
      })}
      <button type="button" onClick={() => onChange([...pairs, { key: "", value: "" }])}>Add {noun.toLowerCase()}</button>
      <Err msg={error} />
    </div>
  );
}

function ActionEditor({ i, n, a, own, onChange, ctx, e, groups, fields, tenantId, conns, onMove, onRemove }: {
  i: number; n: number; a: ActionForm; own?: string; onChange: (a: ActionForm) => void; ctx: PathContext; e: (loc: string) => string | undefined;
  groups: Schemas["FieldGroup"][]; fields: Field[]; tenantId: string; conns: Schemas["OAuth2Connection"][];
  onMove: (d: number) => void; onRemove: () => void;
}) {
  const set = (p: Partial<ActionForm>) => onChange({ ...a, ...p });
  const auth = (p: Partial<ActionForm["auth"]>) => set({ auth: { ...a.auth, ...p } });
  const otherFields = useFields(groups, a.type === "set_field" ? a.fieldGroup : "", tenantId);
  const targetFields = a.fieldGroup ? otherFields : fields;
  return (
    <fieldset className="step" aria-label={`Step ${i + 1}`}>
      <legend>Step {i + 1} · {actionLabels[a.type]}</legend>
      <div className="row">
        <div className="tpl"><label>Step name<input value={a.name} onChange={(x) => set({ name: x.target.value })} required /></label><Err msg={e(".name")} /></div>
        <label>Action<select value={a.type} onChange={(x) => set({ type: x.target.value as ActionType, bodyType: x.target.value === "http" ? "json" : "none" })}>
          {(["http", "webhook", "set_field"] as const).map((t) => <option key={t} value={t}>{actionLabels[t]}</option>)}
        </select></label>
        <span className="actions">
          <button type="button" aria-label={`Move step ${i + 1} up`} disabled={i === 0} onClick={() => onMove(-1)}>↑ Up</button>
          <button type="button" aria-label={`Move step ${i + 1} down`} disabled={i === n - 1} onClick={() => onMove(1)}>↓ Down</button>
          <button type="button" className="danger" aria-label={`Remove step ${i + 1}`} onClick={onRemove}>Remove</button>
        </span>
      </div>
      {a.type === "webhook" && (
        <><TemplateInput label="URL" value={a.url} onChange={(v) => set({ url: v })} ctx={ctx} error={e(".url")} placeholder="https://ops.example.com/hooks" required />
          <p className="muted">POSTs the event and the entity's record, signed with the automation's secret.</p></>
      )}
      {a.type === "http" && (
        <>
          <div className="row">
            <label>Method<select value={a.method} onChange={(x) => set({ method: x.target.value as ActionForm["method"] })}>
              {methods.map((m) => <option key={m}>{m}</option>)}
            </select></label>
            <TemplateInput label="URL" value={a.url} onChange={(v) => set({ url: v })} ctx={ctx} error={e(".url")} placeholder="https://api.example.com/…" required />
          </div>
          <div className="row">
            <label>Auth<select value={a.auth.type} onChange={(x) => auth({ type: x.target.value as ActionForm["auth"]["type"] })}>
              {authTypes.map((t) => <option key={t} value={t}>{{ none: "none", bearer: "Bearer token", apiKey: "API key", basic: "Basic (user, password)", oauth2: "OAuth2 connection" }[t]}</option>)}
            </select></label>
            {a.auth.type === "bearer" && <TemplateInput label="Token" value={a.auth.token} onChange={(v) => auth({ token: v })} ctx={ctx} error={e(".auth.token")} placeholder="{{secrets.…}}" />}
            {a.auth.type === "apiKey" && (
              <>
                <label>Send in<select value={a.auth.in} onChange={(x) => auth({ in: x.target.value as "header" | "query" })}><option>header</option><option>query</option></select></label>
                <div className="tpl"><label>Key name<input value={a.auth.name} onChange={(x) => auth({ name: x.target.value })} placeholder="X-API-Key" /></label><Err msg={e(".auth.name")} /></div>
                <TemplateInput label="Key value" value={a.auth.value} onChange={(v) => auth({ value: v })} ctx={ctx} error={e(".auth.value")} />
              </>
            )}
            {a.auth.type === "basic" && (
              <>
                <TemplateInput label="Username" value={a.auth.username} onChange={(v) => auth({ username: v })} ctx={ctx} error={e(".auth.username")} />
                <TemplateInput label="Password" value={a.auth.password} onChange={(v) => auth({ password: v })} ctx={ctx} error={e(".auth.password")} />
              </>
            )}
            {a.auth.type === "oauth2" && (
              <div className="tpl"><label>Connection<select value={a.auth.connectionId} onChange={(x) => auth({ connectionId: x.target.value })}>
                <option value="">choose…</option>
                {conns.map((c) => <option key={c.id} value={c.id}>{c.name}{c.tenantId ? ` (${c.tenantId})` : ""}</option>)}
              </select></label><Err msg={e(".auth.connectionId")} />
                {conns.length === 0 && <small className="muted">No connections: add one under Settings.</small>}</div>
            )}
          </div>
          <Err msg={e(".auth") && !["token", "name", "value", "username", "password", "connectionId"].some((k) => e(`.auth.${k}`)) ? e(".auth") : undefined} />
          <Pairs title="Headers" noun="Header" pairs={a.headers} onChange={(p) => set({ headers: p })} ctx={ctx} error={e(".headers")} />
          <Pairs title="Query" noun="Parameter" pairs={a.query} onChange={(p) => set({ query: p })} ctx={ctx} error={e(".query")} />
          <div className="row">
            <label>Body<select value={a.bodyType} onChange={(x) => set({ bodyType: x.target.value as ActionForm["bodyType"] })}>
              {bodyTypes.map((t) => <option key={t} value={t}>{{ none: "none", json: "JSON", form: "form (URL-encoded)", raw: "raw" }[t]}</option>)}
            </select></label>
            {a.bodyType === "json" && <label className="check"><input type="checkbox" checked={a.jsonMode === "raw"} onChange={(x) => {
              if (x.target.checked) set({ jsonMode: "raw", jsonText: JSON.stringify(Object.fromEntries(a.jsonRows.filter((p) => p.key).map((p) => [p.key, p.value])), null, 2) });
              else set({ jsonMode: "rows" });
            }} />Edit JSON by hand</label>}
          </div>
          {a.bodyType === "json" && (a.jsonMode === "rows"
            ? <Pairs title="JSON body" noun="Property" pairs={a.jsonRows} onChange={(p) => set({ jsonRows: p })} ctx={ctx} error={e(".body")} />
            : <TemplateInput label="JSON" multiline value={a.jsonText} onChange={(v) => set({ jsonText: v })} ctx={ctx} error={e(".body")} />)}
          {a.bodyType === "form" && <Pairs title="Form body" noun="Form field" pairs={a.form} onChange={(p) => set({ form: p })} ctx={ctx} error={e(".body")} />}
          {a.bodyType === "raw" && (
            <>
              <TemplateInput label="Raw body" multiline value={a.raw} onChange={(v) => set({ raw: v })} ctx={ctx} error={e(".body.raw")} />
              <div className="tpl"><label>Content type<input value={a.contentType} onChange={(x) => set({ contentType: x.target.value })} placeholder="text/plain; charset=utf-8" /></label><Err msg={e(".body.contentType")} /></div>
            </>
          )}
          <div className="row">
            <div className="tpl"><label>Timeout (s)<input inputMode="numeric" value={a.timeoutSeconds} onChange={(x) => set({ timeoutSeconds: x.target.value })} placeholder="30" /></label><Err msg={e(".timeoutSeconds")} /></div>
            <div className="tpl"><label>Retry waits<input value={a.retrySchedule} onChange={(x) => set({ retrySchedule: x.target.value })} placeholder="10s, 1m, 10m (empty: no retry)" /></label><Err msg={e(".retry.schedule")} /></div>
            <div className="tpl"><label>Retry on status<input value={a.retryOnStatus} onChange={(x) => set({ retryOnStatus: x.target.value })} placeholder="408, 429, 5xx" /></label><Err msg={e(".retry.onStatus")} /></div>
          </div>
          <label className="check"><input type="checkbox" checked={a.captureResponse} onChange={(x) => set({ captureResponse: x.target.checked })} />Capture the response (later steps read steps.{a.name || "name"}.response)</label>
        </>
      )}
      {a.type === "set_field" && (
        <>
          <div className="row">
            <div className="tpl"><label>Write to group<select value={a.fieldGroup} onChange={(x) => set({ fieldGroup: x.target.value })}>
              <option value="">the event's group</option>
              {groups.map((g) => <option key={g.id} value={g.key}>{g.name} ({g.key})</option>)}
            </select></label><Err msg={e(".fieldGroup")} /></div>
            <TemplateInput label="Entity (empty: the event's)" value={a.entityId} onChange={(v) => set({ entityId: v })} ctx={ctx} error={e(".entityId")} />
          </div>
          <Pairs title="Values" noun="Field" pairs={a.values} onChange={(p) => set({ values: p })} ctx={ctx} error={e(".values")} keyOptions={targetFields} />
        </>
      )}
      <details open={!!a.if}>
        <summary>Run only if…</summary>
        <div className="tpl"><label>Step condition (CEL over event, entity, tenant and steps; false skips the step)
          <input value={a.if} onChange={(x) => set({ if: x.target.value })} placeholder="steps.quote.response.status == 200" /></label><Err msg={e(".if")} /></div>
      </details>
      <Err msg={e(".type") ?? own} />
    </fieldset>
  );
}

// --- the run log ---

function RunLog({ automationId }: { automationId: string }) {
  const [status, setStatus] = useState("");
  const [runs, setRuns] = useState<Schemas["Run"][]>([]);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(async () => {
    const { data, error } = await api.GET("/api/automations/{id}/runs", {
      params: { path: { id: automationId }, query: { pageSize: 100, ...(status ? { status: status as "pending" | "succeeded" | "failed" } : {}) } },
    });
    if (error) setError(error);
    setRuns(data?.data ?? []);
  }, [automationId, status]);
  useEffect(() => { load(); }, [load]);
  // The log follows new runs while the page is open.
  useEffect(() => { const t = setInterval(load, 2000); return () => clearInterval(t); }, [load]);
  return (
    <>
      <h2>Run log</h2>
      <label className="narrow">Status
        <select value={status} onChange={(x) => setStatus(x.target.value)}>
          <option value="">all</option><option>pending</option><option>succeeded</option><option>failed</option>
        </select>
      </label>
      <ErrorBox error={error} />
      <table>
        <thead><tr><th>Run</th><th>Event</th><th>State</th><th>Steps</th><th>Error</th><th>Started</th><th /></tr></thead>
        <tbody>
          {runs.map((r) => (
            <tr key={r.id}>
              <td><code>{r.id}</code></td>
              <td><a href={link(`/events/${r.eventId}`)} onClick={go(`/events/${r.eventId}`)}>{r.eventType}</a></td>
              <td className={r.state === "succeeded" ? "ok" : r.state === "failed" ? "bad" : ""}>{r.state}</td>
              <td><details><summary>{(r.steps ?? []).length} step attempt(s)</summary><RunSteps steps={r.steps ?? []} /></details></td>
              <td className="bad">{r.error}{r.state === "pending" && r.nextAttemptAt && <span className="muted"> next try <Time at={r.nextAttemptAt} /></span>}</td>
              <td><Time at={r.createdAt} /></td>
              <td>{r.state === "failed" && <button onClick={async () => {
                const { error } = await api.POST("/api/runs/{id}/retry", { params: { path: { id: r.id } } });
                setError(error); load();
              }}>Retry</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {runs.length === 0 && <p className="muted">No runs yet: only events after activation start runs.</p>}
    </>
  );
}

function RunSteps({ steps }: { steps: Schemas["Step"][] }) {
  if (!steps.length) return <p className="muted">No steps yet.</p>;
  return (
    <ol className="steps-run">
      {steps.map((s, i) => (
        <li key={i}>
          <strong>{s.name}</strong> <span className="muted">{s.type} · attempt {s.attempt} · {s.durationMs} ms · <Time at={s.startedAt} /></span>{" "}
          <span className={s.state === "succeeded" ? "ok" : s.state === "failed" ? "bad" : "muted"}>{s.state}</span>
          {s.error && <div className="bad">{s.error}</div>}
          {(s.notes ?? []).map((n, j) => <div className="muted" key={j}>note: {n}</div>)}
          {s.request !== undefined && s.request !== null && <><div>Request</div><Json value={s.request} /></>}
          {s.response && (
            <><div>Response {s.response.status}</div>
              <pre className="json">{Object.entries(s.response.headers ?? {}).map(([k, v]) => `${k}: ${v}`).join("\n")}{"\n\n"}{s.response.body}</pre></>
          )}
        </li>
      ))}
    </ol>
  );
}


// TestPanel tries the automation as it stands in the form (saved or not)
// on a sample event or a past one, and shows each step as a run would.
function TestPanel({ build, sample: suggested }: { build: () => Schemas["AutomationInput"]; sample: string }) {
  const [mode, setMode] = useState<"sample" | "past">("sample");
  const [sample, setSample] = useState("");
  const [eventId, setEventId] = useState("");
  const [result, setResult] = useState<Schemas["TestRunResult"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const text = sample || suggested;
  return (
    <fieldset className="box" aria-label="Test">
      <legend>Test before activating</legend>
      <p className="muted">Runs the steps once, now: HTTP and webhook steps send their requests for real; set field steps only show what they would write. Nothing is stored.</p>
      <div className="row" role="radiogroup" aria-label="Test event">
        <label className="check"><input type="radio" name="test-event" checked={mode === "sample"} onChange={() => setMode("sample")} />A sample event</label>
        <label className="check"><input type="radio" name="test-event" checked={mode === "past"} onChange={() => setMode("past")} />A past event</label>
      </div>
      {mode === "sample"
        ? <label>Sample event (the payload as receivers get it)<textarea rows={8} value={text} onChange={(x) => setSample(x.target.value)} /></label>
        : <label>Event id<input value={eventId} onChange={(x) => setEventId(x.target.value.trim())} placeholder="evt_…" /></label>}
      <button type="button" disabled={busy} onClick={async () => {
        setBusy(true); setResult(null); setError(null);
        try {
          let event: Record<string, unknown> | undefined;
          if (mode === "sample") {
            try { event = JSON.parse(text); } catch { setError({ detail: "the sample event is not JSON" }); return; }
          }
          const { data, error } = await api.POST("/api/automations/test", {
            body: { automation: build(), ...(mode === "sample" ? { event } : { eventId }) },
          });
          setError(error); setResult(data ?? null);
        } finally { setBusy(false); }
      }}>Run test</button>
      <ErrorBox error={error} />
      {result && (
        <div role="region" aria-label="Test result">
          <p className={result.conditionHeld ? "ok" : "muted"}>
            {result.conditionHeld ? "The trigger's condition holds for this event." : "The trigger's condition does not hold for this event: a real run would not start."}
            {result.conditionNote && <> {result.conditionNote}</>}
          </p>
          <RunSteps steps={result.steps} />
        </div>
      )}
    </fieldset>
  );
}
