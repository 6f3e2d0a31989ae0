// preview.ts decides what the live form preview shows while fields are
// edited: the group's fields as a tenant's form lists them (global fields
// first, then the tenant's), with the field being edited as it is typed.
import type { Schemas } from "../api/client";

export interface PreviewField {
  key: string;
  label: string;
  schema: Schemas["Schema"];
  scope: "global" | "tenant";
  /** draft marks the field being edited (or created) now. */
  draft?: boolean;
}

export interface Draft {
  /** id is the field being edited; absent for a new one. */
  id?: string;
  key: string;
  label: string;
  schema: Schemas["Schema"];
  scope: "global" | "tenant";
}

type Stored = { id: string; key: string; label: string; schema: Schemas["Schema"] };

/**
 * previewFields lists the form's fields. A draft of a stored field takes
 * its place; a new one is added after its scope's fields once it has a
 * key or a label.
 */
export function previewFields(globals: Stored[], tenantFields: Stored[], draft: Draft | null): PreviewField[] {
  const of = (fs: Stored[], scope: "global" | "tenant"): PreviewField[] => fs.map((f) =>
    draft?.id === f.id ? { key: draft.key || f.key, label: draft.label, schema: draft.schema, scope, draft: true } : { key: f.key, label: f.label, schema: f.schema, scope });
  const g = of(globals, "global");
  const t = of(tenantFields, "tenant");
  if (draft && !draft.id && (draft.key.trim() || draft.label.trim())) {
    (draft.scope === "global" ? g : t).push({ key: draft.key, label: draft.label, schema: draft.schema, scope: draft.scope, draft: true });
  }
  return [...g, ...t];
}

/** inputType is the HTML input a field of the type gets, for the types drawn as an <input>. */
export function inputType(type: string): string {
  switch (type) {
    case "number": return "number";
    case "date": return "date";
    case "datetime": return "datetime-local";
    case "email": return "email";
    case "url": return "url";
    case "phone": return "tel";
    default: return "text";
  }
}
