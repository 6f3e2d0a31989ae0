// cel.ts turns the condition builder's rows into CEL and back. The rows are
// a conjunction (or disjunction) of simple tests on one path each; anything
// richer is written by hand in the raw CEL box, and parseCondition returns
// null for it so the page stays in raw mode rather than lose it.

/** ValueKind is how a row's value is written as a CEL literal. */
export type ValueKind = "string" | "number" | "boolean" | "list";

export type CondOp = "==" | "!=" | "<" | "<=" | ">" | ">=" | "contains" | "startsWith" | "endsWith" | "matches"
  | "in" | "includes" | "set" | "unset";

export interface CondRow {
  path: string; // e.g. entity.values.country, event.value, tenant.id
  op: CondOp;
  value: string; // as typed; "in" takes a comma-separated list
  kind: ValueKind;
}

export interface Condition {
  join: "&&" | "||";
  rows: CondRow[];
}

export const opLabels: Record<CondOp, string> = {
  "==": "equals", "!=": "does not equal", "<": "is less than", "<=": "is at most", ">": "is greater than", ">=": "is at least",
  contains: "contains", startsWith: "starts with", endsWith: "ends with", matches: "matches (RE2)", in: "is one of",
  includes: "includes", set: "is set", unset: "is not set",
};

/** opsFor lists the operators that make sense for a value kind. */
export function opsFor(kind: ValueKind): CondOp[] {
  switch (kind) {
    case "number": return ["==", "!=", "<", "<=", ">", ">=", "in", "set", "unset"];
    case "boolean": return ["==", "!=", "set", "unset"];
    case "list": return ["includes", "set", "unset"];
    default: return ["==", "!=", "contains", "startsWith", "endsWith", "matches", "in", "set", "unset"];
  }
}

/** kindOf is the value kind of a field type from the schema. */
export function kindOf(fieldType: string | undefined): ValueKind {
  switch (fieldType) {
    case "number": return "number";
    case "boolean": return "boolean";
    case "multiselect": return "list";
    default: return "string";
  }
}

/** celString quotes s as a CEL double-quoted string literal. */
export function celString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === "\\") out += "\\\\";
    else if (ch === '"') out += '\\"';
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += ch;
  }
  return out + '"';
}

/**
 * celLiteral writes one typed value. Numbers are doubles (JSON numbers are
 * doubles in CEL, and a double never meets an int in a comparison); text
 * that is not a number or boolean is quoted, so the server's type check
 * names the mistake.
 */
export function celLiteral(kind: ValueKind, text: string): string {
  const t = text.trim();
  if (kind === "number" && t !== "" && Number.isFinite(Number(t))) {
    const n = Number(t);
    return Number.isInteger(n) && !/e/i.test(String(n)) ? `${n}.0` : String(n);
  }
  if (kind === "boolean" && (t === "true" || t === "false")) return t;
  return celString(text);
}

const ident = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** celPath writes a dotted path, indexing the segments that are not identifiers. */
export function celPath(path: string): string {
  const [head, ...rest] = path.split(".");
  return head + rest.map((s) => (ident.test(s) ? `.${s}` : `[${celString(s)}]`)).join("");
}

function hasTest(path: string): string {
  const segs = path.split(".");
  const last = segs[segs.length - 1];
  if (segs.length > 1 && ident.test(last)) return `has(${celPath(path)})`;
  return `${celString(last)} in ${celPath(segs.slice(0, -1).join("."))}`;
}

/** rowCEL is one row's test. */
export function rowCEL(r: CondRow): string {
  const p = celPath(r.path);
  switch (r.op) {
    case "set": return hasTest(r.path);
    case "unset": { const h = hasTest(r.path); return h.startsWith("has(") ? `!${h}` : `!(${h})`; }
    case "contains": case "startsWith": case "endsWith": case "matches":
      return `${p}.${r.op}(${celString(r.value)})`;
    case "in": {
      const items = r.value.split(",").map((s) => s.trim()).filter(Boolean);
      return `${p} in [${items.map((i) => celLiteral(r.kind, i)).join(", ")}]`;
    }
    case "includes": return `${celString(r.value)} in ${p}`;
    default: return `${p} ${r.op} ${celLiteral(r.kind, r.value)}`;
  }
}

/** buildCondition is the CEL of the rows; no rows is no condition (""). */
export function buildCondition(c: Condition): string {
  const rows = c.rows.filter((r) => r.path.trim() !== "");
  if (rows.length === 0) return "";
  return rows.map(rowCEL).join(` ${c.join} `);
}

// --- parsing back what buildCondition writes ---

type Tok = { t: "path" | "str" | "num" | "bool" | "op" | "p"; v: string };

function unquote(body: string, q: string): string | null {
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch === q) return null;
    if (ch !== "\\") { out += ch; continue; }
    const n = body[++i];
    if (n === "\\" || n === '"' || n === "'" || n === "`" || n === "?") out += n;
    else if (n === "n") out += "\n";
    else if (n === "r") out += "\r";
    else if (n === "t") out += "\t";
    else if (n === "u" && /^[0-9a-fA-F]{4}$/.test(body.slice(i + 1, i + 5))) { out += String.fromCharCode(parseInt(body.slice(i + 1, i + 5), 16)); i += 4; }
    else return null;
  }
  return out;
}

function tokenize(src: string): Tok[] | null {
  const toks: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const rest = src.slice(i);
    let m: RegExpExecArray | null;
    if ((m = /^\s+/.exec(rest))) { i += m[0].length; continue; }
    if ((m = /^("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')/.exec(rest))) {
      const s = unquote(m[0].slice(1, -1), m[0][0]);
      if (s === null) return null;
      toks.push({ t: "str", v: s });
    } else if ((m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(rest))) toks.push({ t: "num", v: m[0] });
    else if ((m = /^(==|!=|<=|>=|&&|\|\||<|>)/.exec(rest))) toks.push({ t: "op", v: m[0] });
    else if ((m = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[(?:"(?:[^"\\]|\\.)*")\])*/.exec(rest))) {
      if (m[0] === "true" || m[0] === "false") toks.push({ t: "bool", v: m[0] });
      else if (m[0] === "in" || m[0] === "has") toks.push({ t: "op", v: m[0] });
      else {
        // a["b c"] back to the dotted form the rows hold
        const parts: string[] = [];
        for (const seg of m[0].matchAll(/([A-Za-z_][A-Za-z0-9_]*)|\[("(?:[^"\\]|\\.)*")\]/g)) {
          if (seg[1]) parts.push(seg[1]);
          else { const s = unquote(seg[2].slice(1, -1), '"'); if (s === null) return null; parts.push(s); }
        }
        toks.push({ t: "path", v: parts.join(".") });
      }
    } else if ("()[],!".includes(rest[0])) toks.push({ t: "p", v: rest[0] });
    else return null;
    i += m ? m[0].length : 1;
  }
  return toks;
}

const methods = new Set(["contains", "startsWith", "endsWith", "matches"]);
const compare = new Set(["==", "!=", "<", "<=", ">", ">="]);

function litKind(t: Tok): ValueKind | null {
  return t.t === "str" ? "string" : t.t === "num" ? "number" : t.t === "bool" ? "boolean" : null;
}

function litText(t: Tok): string {
  return t.t === "num" ? String(Number(t.v)) : t.v;
}

function parseRow(ts: Tok[]): CondRow | null {
  const is = (i: number, t: Tok["t"], v?: string) => ts[i] && ts[i].t === t && (v === undefined || ts[i].v === v);
  // has(path) and !has(path)
  const neg = is(0, "p", "!");
  const o = neg ? 1 : 0;
  if (is(o, "op", "has") && is(o + 1, "p", "(") && is(o + 2, "path") && is(o + 3, "p", ")") && ts.length === o + 4) {
    return { path: ts[o + 2].v, op: neg ? "unset" : "set", value: "", kind: "string" };
  }
  // "item" in path: a list includes the item
  if (is(0, "str") && is(1, "op", "in") && is(2, "path") && ts.length === 3) {
    return { path: ts[2].v, op: "includes", value: ts[0].v, kind: "list" };
  }
  if (neg || !is(0, "path")) return null;
  const path = ts[0].v;
  if (is(1, "op") && compare.has(ts[1].v) && ts.length === 3) {
    const k = litKind(ts[2]);
    if (!k) return null;
    return { path, op: ts[1].v as CondOp, value: litText(ts[2]), kind: k };
  }
  if (is(1, "op", "in") && is(2, "p", "[") && is(ts.length - 1, "p", "]")) {
    const items = ts.slice(3, -1);
    const vals: string[] = [];
    let kind: ValueKind | null = null;
    for (let i = 0; i < items.length; i++) {
      if (i % 2 === 1) { if (!(items[i].t === "p" && items[i].v === ",")) return null; continue; }
      const k = litKind(items[i]);
      if (!k || (kind && k !== kind)) return null;
      kind = k;
      vals.push(litText(items[i]));
    }
    if (vals.some((v) => v.includes(","))) return null;
    return { path, op: "in", value: vals.join(", "), kind: kind ?? "string" };
  }
  const dot = path.lastIndexOf(".");
  const fn = path.slice(dot + 1);
  if (dot > 0 && methods.has(fn) && is(1, "p", "(") && is(2, "str") && is(3, "p", ")") && ts.length === 4) {
    return { path: path.slice(0, dot), op: fn as CondOp, value: ts[2].v, kind: "string" };
  }
  return null;
}

/**
 * parseCondition reads CEL back into rows, or returns null when it is more
 * than rows joined by one of && or || (parentheses, mixed joins, calls the
 * builder does not write): the raw box then keeps it as typed.
 */
export function parseCondition(src: string): Condition | null {
  if (src.trim() === "") return { join: "&&", rows: [] };
  const toks = tokenize(src);
  if (!toks) return null;
  const joins = new Set(toks.filter((t) => t.t === "op" && (t.v === "&&" || t.v === "||")).map((t) => t.v));
  if (joins.size > 1) return null;
  const join = (joins.values().next().value ?? "&&") as "&&" | "||";
  const rows: CondRow[] = [];
  let cur: Tok[] = [];
  for (const t of [...toks, { t: "op", v: join } as Tok]) {
    if (t.t === "op" && t.v === join) {
      const r = parseRow(cur);
      if (!r) return null;
      rows.push(r);
      cur = [];
    } else cur.push(t);
  }
  return { join, rows };
}
