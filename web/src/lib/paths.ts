// paths.ts is what a template box offers while you type {{: the paths that
// exist for the automation being built — the trigger's event payload, the
// group's fields under entity.values, tenant.id, the variables and secrets,
// and the captured responses of earlier steps.

export interface PathContext {
  /** The trigger's event type: an exact name, prefix.* or *; time rules give theirs (automation.sla_reached). */
  eventType: string;
  /** The field group's fields, for entity.values and entity.updated's values. */
  fields: { key: string; type?: string }[];
  vars: string[];
  secrets: string[];
  /** Earlier steps only: a step cannot read itself or a later one. */
  steps: { name: string; captured: boolean }[];
}

const header = ["event", "eventId", "timestamp", "tenantId", "causedBy"];
const valueEvent = ["fieldGroupId", "fieldGroupKey", "entityId", "fieldKey", "value", "previousValue"];
const timeEvent = ["automationId", "fieldGroupId", "fieldGroupKey", "entityId", "fieldKey", "value"];

/** eventMembers lists the payload members of an event type's events, as the server writes them. */
export function eventMembers(eventType: string, fields: { key: string }[]): string[] {
  const t = eventType.trim();
  const under = (prefix: string) => t === prefix + ".*" || t.startsWith(prefix + ".");
  if (under("field_value")) return [...header, ...valueEvent];
  if (t === "entity.updated" || t === "entity.*") {
    return [...header, "fieldGroupId", "fieldGroupKey", "entityId", ...fields.map((f) => `values.${f.key}`),
      ...fields.map((f) => `previousValues.${f.key}`), "changedKeys", "version"];
  }
  if (t === "automation.sla_reached") return [...header.slice(0, 4), ...timeEvent, "after", "heldSince"];
  if (t === "automation.date_reached") return [...header.slice(0, 4), ...timeEvent, "offset"];
  if (t === "automation.run_failed") return [...header, "automationId", "run.id", "run.eventId"];
  return header;
}

/** templatePaths is every path a template may name in this context, in the order the list shows them. */
export function templatePaths(ctx: PathContext): string[] {
  const out = eventMembers(ctx.eventType, ctx.fields).map((m) => `event.${m}`);
  out.push(...ctx.fields.map((f) => `entity.values.${f.key}`), "tenant.id");
  out.push(...ctx.vars.map((v) => `vars.${v}`), ...ctx.secrets.map((s) => `secrets.${s}`));
  for (const s of ctx.steps) {
    if (s.captured) out.push(`steps.${s.name}.response.status`, `steps.${s.name}.response.headers`, `steps.${s.name}.response.body`);
  }
  return [...new Set(out)];
}

/**
 * openTag finds the template tag the cursor is in: the text after the last
 * "{{" before the cursor, if no "}}" closed it. null when outside a tag.
 */
export function openTag(text: string, cursor: number): { start: number; partial: string } | null {
  const before = text.slice(0, cursor);
  const open = before.lastIndexOf("{{");
  if (open < 0 || before.indexOf("}}", open) >= 0) return null;
  const partial = before.slice(open + 2);
  if (/[\s{}]/.test(partial.trim()) ) return null;
  return { start: open + 2, partial: partial.trimStart() };
}

/** suggest is the paths for the tag at the cursor: those that start with what is typed, then those containing it. */
export function suggest(ctx: PathContext, text: string, cursor: number, limit = 12): string[] {
  const tag = openTag(text, cursor);
  if (!tag) return [];
  const q = tag.partial.toLowerCase();
  const all = templatePaths(ctx);
  const starts = all.filter((p) => p.toLowerCase().startsWith(q));
  const contains = all.filter((p) => !p.toLowerCase().startsWith(q) && p.toLowerCase().includes(q));
  const out = [...starts, ...contains];
  return out.length === 1 && out[0] === tag.partial ? [] : out.slice(0, limit);
}

/**
 * insertPath puts path into the tag at the cursor and closes it, replacing
 * what was typed of it (and an already typed closing "}}"); the new cursor
 * is after the tag.
 */
export function insertPath(text: string, cursor: number, path: string): { text: string; cursor: number } {
  const tag = openTag(text, cursor);
  if (!tag) {
    const ins = `{{${path}}}`;
    return { text: text.slice(0, cursor) + ins + text.slice(cursor), cursor: cursor + ins.length };
  }
  let after = text.slice(cursor);
  const word = /^[^\s{}]*/.exec(after)![0];
  after = after.slice(word.length);
  if (after.startsWith("}}")) after = after.slice(2);
  const head = text.slice(0, tag.start) + path + "}}";
  return { text: head + after, cursor: head.length };
}
