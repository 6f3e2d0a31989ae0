// schema.ts is the schema editor's logic: which rules each field type
// takes (DESIGN.md), and turning the editor's text boxes into the API's
// schema object, leaving out what is empty or does not apply.
import type { Schemas } from "../api/client";

/** FieldType is the server's own list: a type it drops breaks this build. */
export type FieldType = Schemas["Schema"]["type"];
export const fieldTypes: FieldType[] = ["string", "textarea", "number", "boolean", "date", "datetime", "select", "multiselect",
  "email", "url", "phone", "json"];

export type Rule = "required" | "unique" | "minLength" | "maxLength" | "min" | "max" | "pattern" | "options";

const textual: Rule[] = ["required", "unique", "minLength", "maxLength", "pattern"];

/** rulesFor lists the validation rules a type accepts. */
export function rulesFor(type: string): Rule[] {
  switch (type) {
    case "string": case "textarea": case "email": case "url": case "phone":
      return textual;
    case "number":
      return ["required", "unique", "min", "max"];
    case "select":
      return ["required", "unique", "options"];
    case "multiselect":
      return ["required", "options", "minLength", "maxLength"];
    case "date": case "datetime":
      return ["required", "unique"];
    default:
      return ["required"];
  }
}

export interface SchemaForm {
  type: FieldType;
  required: boolean;
  unique: boolean;
  minLength: string;
  maxLength: string;
  min: string;
  max: string;
  pattern: string;
  options: string; // one per line
  placeholder: string;
  helpText: string;
}

export function emptyForm(type: FieldType = "string"): SchemaForm {
  return { type, required: false, unique: false, minLength: "", maxLength: "", min: "", max: "", pattern: "", options: "",
    placeholder: "", helpText: "" };
}

export function formFromSchema(s: Schemas["Schema"]): SchemaForm {
  const v = s.validation ?? {};
  const str = (n: number | undefined) => (n === undefined || n === null ? "" : String(n));
  return { type: s.type, required: !!v.required, unique: !!v.unique, minLength: str(v.minLength), maxLength: str(v.maxLength),
    min: str(v.min), max: str(v.max), pattern: v.pattern ?? "", options: (v.options ?? []).join("\n"),
    placeholder: s.ui?.placeholder ?? "", helpText: s.ui?.helpText ?? "" };
}

/** buildSchema is the API's schema for the form: only the rules the type takes, only those set. */
export function buildSchema(f: SchemaForm): Schemas["Schema"] {
  const rules = new Set(rulesFor(f.type));
  const validation: NonNullable<Schemas["Schema"]["validation"]> = {};
  if (rules.has("required") && f.required) validation.required = true;
  if (rules.has("unique") && f.unique) validation.unique = true;
  const num = (s: string) => (s.trim() === "" ? undefined : Number(s));
  if (rules.has("minLength") && num(f.minLength) !== undefined) validation.minLength = num(f.minLength);
  if (rules.has("maxLength") && num(f.maxLength) !== undefined) validation.maxLength = num(f.maxLength);
  if (rules.has("min") && num(f.min) !== undefined) validation.min = num(f.min);
  if (rules.has("max") && num(f.max) !== undefined) validation.max = num(f.max);
  if (rules.has("pattern") && f.pattern !== "") validation.pattern = f.pattern;
  if (rules.has("options")) {
    const opts = f.options.split("\n").map((o) => o.trim()).filter(Boolean);
    if (opts.length) validation.options = opts;
  }
  const schema: Schemas["Schema"] = { type: f.type };
  if (Object.keys(validation).length) schema.validation = validation;
  const ui: NonNullable<Schemas["Schema"]["ui"]> = {};
  if (f.placeholder) ui.placeholder = f.placeholder;
  if (f.helpText) ui.helpText = f.helpText;
  if (Object.keys(ui).length) schema.ui = ui;
  return schema;
}

/**
 * checkPattern is the live check of a pattern box: whether it compiles and,
 * given a sample, whether the sample matches. The server uses RE2, whose
 * syntax is nearly JavaScript's; the server's answer stays the final word.
 */
export function checkPattern(pattern: string, sample: string): { ok: boolean; message: string } {
  if (pattern === "") return { ok: true, message: "" };
  let re: RegExp;
  try {
    re = new RegExp(pattern, "u");
  } catch (e) {
    return { ok: false, message: `invalid pattern: ${(e as Error).message}` };
  }
  if (/\(\?[=!<]/.test(pattern) || /\\[1-9]/.test(pattern)) {
    return { ok: false, message: "lookarounds and backreferences are not RE2: the server refuses them" };
  }
  if (sample === "") return { ok: true, message: "pattern compiles" };
  return re.test(sample) ? { ok: true, message: "sample matches" } : { ok: false, message: "sample does not match" };
}

/** parseValue turns what a person typed into the JSON value a field of the type takes. */
export function parseValue(type: string, text: string): unknown {
  if (text.trim() === "") return null;
  switch (type) {
    case "number": {
      const n = Number(text);
      return Number.isNaN(n) ? text : n;
    }
    case "boolean":
      return text === "true" ? true : text === "false" ? false : text;
    case "multiselect":
      return text.split(",").map((s) => s.trim()).filter(Boolean);
    case "json":
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
    default:
      return text;
  }
}

/** showValue is a stored value as an input box shows it. */
export function showValue(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v.join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}
