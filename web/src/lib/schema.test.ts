import { describe, expect, it } from "vitest";
import { buildSchema, checkPattern, emptyForm, formFromSchema, parseValue, rulesFor, showValue } from "./schema";

describe("rulesFor", () => {
  it("gives each type its rules", () => {
    expect(rulesFor("select")).toContain("options");
    expect(rulesFor("number")).toEqual(expect.arrayContaining(["min", "max"]));
    expect(rulesFor("number")).not.toContain("pattern");
    expect(rulesFor("string")).toContain("pattern");
    expect(rulesFor("boolean")).toEqual(["required"]);
  });
});

describe("buildSchema", () => {
  it("keeps only the set rules the type takes", () => {
    const f = { ...emptyForm("select"), required: true, options: "1-10\n 11-50 \n\n51-200", pattern: "ignored", min: "3" };
    expect(buildSchema(f)).toEqual({ type: "select", validation: { required: true, options: ["1-10", "11-50", "51-200"] } });
  });
  it("sends numbers as numbers and ui hints under ui", () => {
    const f = { ...emptyForm("string"), minLength: "2", maxLength: "10", pattern: "^[A-Z]+$", placeholder: "ABC", helpText: "caps" };
    expect(buildSchema(f)).toEqual({ type: "string", validation: { minLength: 2, maxLength: 10, pattern: "^[A-Z]+$" },
      ui: { placeholder: "ABC", helpText: "caps" } });
  });
  it("a bare type is just the type", () => {
    expect(buildSchema(emptyForm("date"))).toEqual({ type: "date" });
  });
  it("round-trips a stored schema", () => {
    const s = { type: "number" as const, validation: { required: true, min: 0, max: 5 }, ui: { helpText: "h" } };
    expect(buildSchema(formFromSchema(s))).toEqual(s);
  });
});

describe("checkPattern", () => {
  it("reports a pattern that does not compile", () => {
    expect(checkPattern("([a-z]", "").ok).toBe(false);
  });
  it("refuses what RE2 lacks", () => {
    expect(checkPattern("^(?=a)", "").ok).toBe(false);
    expect(checkPattern("(a)\\1", "").ok).toBe(false);
  });
  it("checks a sample against the pattern", () => {
    expect(checkPattern("^INS-\\d+$", "INS-2231")).toEqual({ ok: true, message: "sample matches" });
    expect(checkPattern("^INS-\\d+$", "X").ok).toBe(false);
  });
});

describe("parseValue", () => {
  it("types what was typed by the field's type", () => {
    expect(parseValue("number", "42")).toBe(42);
    expect(parseValue("boolean", "true")).toBe(true);
    expect(parseValue("multiselect", "a, b,,c")).toEqual(["a", "b", "c"]);
    expect(parseValue("json", '{"a":1}')).toEqual({ a: 1 });
    expect(parseValue("string", "")).toBeNull();
  });
  it("leaves what does not parse for the server to refuse by name", () => {
    expect(parseValue("number", "twelve")).toBe("twelve");
  });
  it("shows values the way they are typed back", () => {
    expect(showValue(["a", "b"])).toBe("a, b");
    expect(showValue({ a: 1 })).toBe('{"a":1}');
    expect(showValue(null)).toBe("");
  });
});
