// eventTypes.ts turns GET /api/event-types into the choices of a webhook
// endpoint's event-type picker: every event, each family's wildcard, then
// each type an endpoint can receive.
import type { Schemas } from "../api/client";

export interface TypeOption { value: string; label: string; description?: string }

/**
 * eventTypeOptions lists "*", then "prefix.*" for each family of two or
 * more types, then the types (runs-only types left out: they never reach
 * endpoints), then any selected value the list does not know (a saved
 * pattern, or a type the host has not published yet).
 */
export function eventTypeOptions(types: Schemas["EventTypeInfo"][], selected: string[] = []): TypeOption[] {
  const deliverable = types.filter((t) => !t.runsOnly);
  const families = new Map<string, number>();
  for (const t of deliverable) {
    const dot = t.type.lastIndexOf(".");
    if (dot > 0) families.set(t.type.slice(0, dot), (families.get(t.type.slice(0, dot)) ?? 0) + 1);
  }
  const out: TypeOption[] = [{ value: "*", label: "All events (*)" }];
  for (const [f, n] of [...families].sort(([a], [b]) => a.localeCompare(b))) {
    if (n > 1) out.push({ value: `${f}.*`, label: `${f}.*`, description: `every ${f} event` });
  }
  for (const t of deliverable) out.push({ value: t.type, label: t.type, description: t.description });
  const known = new Set(out.map((o) => o.value));
  for (const v of selected) if (!known.has(v)) { out.push({ value: v, label: v }); known.add(v); }
  return out;
}

/** toggle adds value to the list, or removes it when it is there, keeping the order of the rest. */
export function toggle(list: string[], value: string): string[] {
  return list.includes(value) ? list.filter((v) => v !== value) : [...list, value];
}
