// automation.ts is the builder's model: the form a person fills in, and the
// API's automation body made from it (and back, to edit a saved one). It
// holds no JSON typing: JSON bodies and values are built from key/value rows
// unless someone asks for the raw JSON box.
import type { Schemas } from "../api/client";
import { buildCondition, parseCondition, type Condition } from "./cel";
import { parseValue, showValue } from "./schema";

export type TriggerKind = "event" | "field" | "sla" | "date";
export type ActionType = Schemas["Action"]["type"];
export type AuthType = Schemas["Auth"]["type"];
export type BodyType = Schemas["Body"]["type"];
export type Method = NonNullable<Schemas["HTTPAction"]["method"]>;

/**
 * AnyAction has every member any kind of action takes: the builder reads
 * and writes actions through it, while the API's Action is the union of the
 * three kinds (discriminated by type).
 */
type AnyAction = Partial<Omit<Schemas["WebhookAction"], "type"> & Omit<Schemas["HTTPAction"], "type"> & Omit<Schemas["SetFieldAction"], "type">> &
  { name: string; type: ActionType };

export const actionTypes: ActionType[] = ["http", "webhook", "set_field"];
export const authTypes: AuthType[] = ["none", "bearer", "apiKey", "basic", "oauth2"];
export const bodyTypes: BodyType[] = ["none", "json", "form", "raw"];
export const methods: Method[] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
export const actionLabels: Record<ActionType, string> = { http: "HTTP request", webhook: "Call webhook", set_field: "Set field" };

export interface Pair { key: string; value: string }

export interface ActionForm {
  uid: number; // React's key: stable while steps move
  name: string;
  type: ActionType;
  if: string;
  url: string;
  method: Method;
  auth: { type: AuthType; token: string; in: "header" | "query"; name: string; value: string; username: string; password: string; connectionId: string };
  headers: Pair[];
  query: Pair[];
  bodyType: BodyType;
  jsonMode: "rows" | "raw";
  jsonRows: Pair[];
  jsonText: string;
  form: Pair[];
  raw: string;
  contentType: string;
  timeoutSeconds: string;
  retrySchedule: string; // comma-separated waits
  retryOnStatus: string; // comma-separated statuses
  captureResponse: boolean;
  fieldGroup: string;
  entityId: string;
  values: Pair[];
}

export interface AutomationForm {
  name: string;
  description: string;
  tenantId: string;
  active: boolean;
  kind: TriggerKind;
  event: string; // event kind: the type; field kind: field_value.saved or .deleted
  fieldGroup: string;
  fieldKey: string;
  from: string; // "": any
  to: string;
  slaValue: string; // "": any value
  after: string;
  offset: string;
  conditionMode: "rows" | "raw";
  condition: Condition;
  conditionRaw: string;
  actions: ActionForm[];
}

let uids = 0;

export function emptyAction(type: ActionType, name: string): ActionForm {
  return {
    uid: ++uids, name, type, if: "", url: "", method: "POST",
    auth: { type: "none", token: "", in: "header", name: "", value: "", username: "", password: "", connectionId: "" },
    headers: [], query: [], bodyType: type === "http" ? "json" : "none", jsonMode: "rows", jsonRows: [], jsonText: "", form: [], raw: "",
    contentType: "", timeoutSeconds: "", retrySchedule: "", retryOnStatus: "", captureResponse: false,
    fieldGroup: "", entityId: "", values: [],
  };
}

export function emptyAutomation(): AutomationForm {
  return {
    name: "", description: "", tenantId: "", active: true, kind: "field", event: "field_value.saved", fieldGroup: "", fieldKey: "",
    from: "", to: "", slaValue: "", after: "72h", offset: "", conditionMode: "rows", condition: { join: "&&", rows: [] }, conditionRaw: "",
    actions: [emptyAction("http", "notify")],
  };
}

/** nextStepName is a name no step has yet: the type, numbered. */
export function nextStepName(actions: ActionForm[], type: ActionType): string {
  const base = type === "set_field" ? "set" : type;
  const names = new Set(actions.map((a) => a.name));
  for (let i = 1; ; i++) if (!names.has(`${base}${i}`)) return `${base}${i}`;
}

/** move returns the list with item i moved by delta (−1 up, +1 down), unchanged at the ends. */
export function move<T>(list: T[], i: number, delta: number): T[] {
  const j = i + delta;
  if (j < 0 || j >= list.length) return list;
  const out = [...list];
  [out[i], out[j]] = [out[j], out[i]];
  return out;
}

const csv = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);
const pairs = (ps: Pair[]) => Object.fromEntries(ps.filter((p) => p.key.trim() !== "").map((p) => [p.key.trim(), p.value]));
const toPairs = (o?: Record<string, unknown> | null) => Object.entries(o ?? {}).map(([key, v]) => ({ key, value: typeof v === "string" ? v : showValue(v) }));

/** typedValue is a value typed into a box for a field of fieldType; a template stays text. */
export function typedValue(fieldType: string | undefined, text: string): unknown {
  if (text.includes("{{")) return text;
  return parseValue(fieldType ?? "string", text);
}

/** conditionText is the CEL the form's condition stands for. */
export function conditionText(f: AutomationForm): string {
  return f.conditionMode === "raw" ? f.conditionRaw.trim() : buildCondition(f.condition);
}

/**
 * buildAutomation is the API body for the form. fieldTypes gives the type
 * of each field of the chosen group, so that from, to, an SLA's value and
 * set_field values are sent as the type the field holds.
 */
export function buildAutomation(f: AutomationForm, fieldTypes: Record<string, string>): Schemas["AutomationInput"] {
  const trigger: Schemas["Trigger"] = {};
  const cond = conditionText(f);
  if (f.kind === "event" || f.kind === "field") {
    trigger.event = f.event.trim();
    if (f.fieldGroup) trigger.fieldGroup = f.fieldGroup;
  }
  if (f.kind === "field") {
    if (f.fieldKey) trigger.fieldKey = f.fieldKey;
    if (f.from !== "") trigger.from = typedValue(fieldTypes[f.fieldKey], f.from);
    if (f.to !== "") trigger.to = typedValue(fieldTypes[f.fieldKey], f.to);
  }
  if (f.kind === "sla") {
    trigger.sla = { fieldGroup: f.fieldGroup, fieldKey: f.fieldKey, after: f.after.trim() };
    if (f.slaValue !== "") trigger.sla.value = typedValue(fieldTypes[f.fieldKey], f.slaValue);
  }
  if (f.kind === "date") {
    trigger.date = { fieldGroup: f.fieldGroup, fieldKey: f.fieldKey };
    if (f.offset.trim()) trigger.date.offset = f.offset.trim();
  }
  if (cond) trigger.condition = cond;
  const body: Schemas["AutomationInput"] = { name: f.name, trigger, actions: f.actions.map((a) => buildAction(a, fieldTypes)), active: f.active };
  if (f.description) body.description = f.description;
  if (f.tenantId.trim()) body.tenantId = f.tenantId.trim();
  return body;
}

function buildAction(a: ActionForm, fieldTypes: Record<string, string>): Schemas["Action"] {
  const out: AnyAction = { name: a.name.trim(), type: a.type };
  if (a.if.trim()) out.if = a.if.trim();
  if (a.type === "webhook") out.url = a.url.trim();
  if (a.type === "set_field") {
    if (a.fieldGroup) out.fieldGroup = a.fieldGroup;
    if (a.entityId.trim()) out.entityId = a.entityId.trim();
    out.values = Object.fromEntries(a.values.filter((p) => p.key).map((p) => [p.key, typedValue(fieldTypes[p.key], p.value)]));
  }
  if (a.type !== "http") return out as Schemas["Action"];
  out.method = a.method;
  out.url = a.url.trim();
  const au = a.auth;
  if (au.type === "bearer") out.auth = { type: "bearer", token: au.token };
  else if (au.type === "apiKey") out.auth = { type: "apiKey", in: au.in, name: au.name, value: au.value };
  else if (au.type === "basic") out.auth = { type: "basic", username: au.username, password: au.password };
  else if (au.type === "oauth2") out.auth = { type: "oauth2", connectionId: au.connectionId };
  const headers = pairs(a.headers);
  if (Object.keys(headers).length) out.headers = headers;
  const query = pairs(a.query);
  if (Object.keys(query).length) out.query = query;
  if (a.bodyType === "json") {
    let json: unknown = pairs(a.jsonRows);
    if (a.jsonMode === "raw") {
      try { json = JSON.parse(a.jsonText); } catch { json = a.jsonText; } // the server names a body that is not JSON
    }
    out.body = { type: "json", json };
  } else if (a.bodyType === "form") out.body = { type: "form", form: pairs(a.form) };
  else if (a.bodyType === "raw") out.body = { type: "raw", raw: a.raw, ...(a.contentType ? { contentType: a.contentType } : {}) };
  if (a.timeoutSeconds.trim()) out.timeoutSeconds = Number(a.timeoutSeconds);
  const schedule = csv(a.retrySchedule);
  const onStatus = csv(a.retryOnStatus).map(Number);
  if (schedule.length || onStatus.length) out.retry = { ...(schedule.length ? { schedule } : {}), ...(onStatus.length ? { onStatus } : {}) };
  if (a.captureResponse) out.captureResponse = true;
  return out as Schemas["Action"];
}

const isFlatStrings = (v: unknown): v is Record<string, string> =>
  !!v && typeof v === "object" && !Array.isArray(v) && Object.values(v).every((x) => typeof x === "string");

/** formFromAutomation is the form for a saved automation; a condition the rows cannot hold opens in raw mode. */
export function formFromAutomation(a: Schemas["Automation"]): AutomationForm {
  const f = emptyAutomation();
  const t = a.trigger ?? {};
  f.name = a.name;
  f.description = a.description ?? "";
  f.tenantId = a.tenantId ?? "";
  f.active = a.active;
  const show = (v: unknown) => (v === undefined || v === null ? "" : showValue(v));
  if (t.sla) {
    Object.assign(f, { kind: "sla", fieldGroup: t.sla.fieldGroup, fieldKey: t.sla.fieldKey, after: t.sla.after, slaValue: show(t.sla.value) });
  } else if (t.date) {
    Object.assign(f, { kind: "date", fieldGroup: t.date.fieldGroup, fieldKey: t.date.fieldKey, offset: t.date.offset ?? "" });
  } else {
    Object.assign(f, { kind: t.fieldKey ? "field" : "event", event: t.event ?? "", fieldGroup: t.fieldGroup ?? "", fieldKey: t.fieldKey ?? "",
      from: show(t.from), to: show(t.to) });
  }
  const parsed = parseCondition(t.condition ?? "");
  if (parsed) f.condition = parsed;
  else { f.conditionMode = "raw"; f.conditionRaw = t.condition ?? ""; }
  f.actions = (a.actions ?? []).map((x) => actionForm(x));
  return f;
}

function actionForm(saved: Schemas["Action"]): ActionForm {
  const x: AnyAction = saved;
  const a = emptyAction(x.type, x.name);
  a.if = x.if ?? "";
  a.url = x.url ?? "";
  a.method = x.method ?? "POST";
  const au = x.auth;
  if (au) a.auth = { ...a.auth, type: au.type, token: au.token ?? "", in: au.in ?? "header", name: au.name ?? "", value: au.value ?? "",
    username: au.username ?? "", password: au.password ?? "", connectionId: au.connectionId ?? "" };
  a.headers = toPairs(x.headers);
  a.query = toPairs(x.query);
  a.bodyType = x.body?.type ?? (x.type === "http" ? "none" : "none");
  if (x.body?.type === "json") {
    if (isFlatStrings(x.body.json)) a.jsonRows = toPairs(x.body.json);
    else { a.jsonMode = "raw"; a.jsonText = JSON.stringify(x.body.json, null, 2); }
  }
  a.form = toPairs(x.body?.form);
  a.raw = x.body?.raw ?? "";
  a.contentType = x.body?.contentType ?? "";
  a.timeoutSeconds = x.timeoutSeconds ? String(x.timeoutSeconds) : "";
  a.retrySchedule = (x.retry?.schedule ?? []).join(", ");
  a.retryOnStatus = (x.retry?.onStatus ?? []).join(", ");
  a.captureResponse = !!x.captureResponse;
  a.fieldGroup = x.fieldGroup ?? "";
  a.entityId = x.entityId ?? "";
  a.values = toPairs(x.values as Record<string, unknown> | undefined);
  return a;
}

/**
 * patchOf is the PATCH body for the form: what a create takes, less the
 * tenant (a PATCH cannot move it) and active (the page's own Activate and
 * Deactivate buttons set it, so saving an edit never flips it).
 */
export function patchOf(body: Schemas["AutomationInput"]): Schemas["AutomationPatch"] {
  const { name, description, trigger, actions } = body;
  return { name, trigger, actions, description: description ?? "" };
}

/**
 * sampleEvent is a starting point for a test: an event of the trigger's
 * type, with its group and field, moving from the trigger's from to its to.
 */
export function sampleEvent(t: { eventType: string; fieldGroup: string; fieldKey: string; tenantId: string; from?: unknown; to?: unknown }): string {
  const ev: Record<string, unknown> = { event: t.eventType || "entity.updated", eventId: "evt_sample", tenantId: t.tenantId || "acme" };
  if (t.fieldGroup) Object.assign(ev, { fieldGroupId: t.fieldGroup, fieldGroupKey: t.fieldGroup, entityId: "entity-1" });
  if (t.fieldKey) Object.assign(ev, { fieldKey: t.fieldKey, value: t.to ?? "", previousValue: t.from ?? null });
  return JSON.stringify(ev, null, 2);
}
