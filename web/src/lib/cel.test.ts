import { describe, expect, it } from "vitest";
import { buildCondition, celLiteral, celString, parseCondition, rowCEL, type Condition } from "./cel";

describe("celString", () => {
  it("quotes quotes, backslashes and control characters", () => {
    expect(celString("plain")).toBe('"plain"');
    expect(celString('say "hi"')).toBe('"say \\"hi\\""');
    expect(celString("C:\\temp\\")).toBe('"C:\\\\temp\\\\"');
    expect(celString("it's")).toBe(`"it's"`);
    expect(celString("a\nb\tc\r")).toBe('"a\\nb\\tc\\r"');
    expect(celString("\u0001")).toBe('"\\u0001"');
    expect(celString("größe ✓")).toBe('"größe ✓"');
  });
});

describe("celLiteral", () => {
  it("writes numbers as doubles and booleans bare, anything else quoted", () => {
    expect(celLiteral("number", "5")).toBe("5.0");
    expect(celLiteral("number", "2.5")).toBe("2.5");
    expect(celLiteral("number", "-3")).toBe("-3.0");
    expect(celLiteral("number", "five")).toBe('"five"');
    expect(celLiteral("boolean", "true")).toBe("true");
    expect(celLiteral("boolean", "yes")).toBe('"yes"');
    expect(celLiteral("string", "42")).toBe('"42"');
  });
});

describe("rowCEL", () => {
  it("writes each operator", () => {
    const r = (op: string, value = "", kind = "string") => rowCEL({ path: "entity.values.country", op: op as never, value, kind: kind as never });
    expect(r("==", "DE")).toBe('entity.values.country == "DE"');
    expect(r("!=", 'a"b')).toBe('entity.values.country != "a\\"b"');
    expect(r(">=", "10", "number")).toBe("entity.values.country >= 10.0");
    expect(r("contains", "x\\y")).toBe('entity.values.country.contains("x\\\\y")');
    expect(r("startsWith", "A")).toBe('entity.values.country.startsWith("A")');
    expect(r("matches", "^[A-Z]{2}$")).toBe('entity.values.country.matches("^[A-Z]{2}$")');
    expect(r("in", "DE, AT,  CH")).toBe('entity.values.country in ["DE", "AT", "CH"]');
    expect(r("in", "1,2", "number")).toBe("entity.values.country in [1.0, 2.0]");
    expect(r("includes", "vip", "list")).toBe('"vip" in entity.values.country');
    expect(r("set")).toBe("has(entity.values.country)");
    expect(r("unset")).toBe("!has(entity.values.country)");
  });
  it("indexes path segments that are not identifiers", () => {
    expect(rowCEL({ path: "steps.quote.response.headers.Content-Type", op: "==", value: "x", kind: "string" }))
      .toBe('steps.quote.response.headers["Content-Type"] == "x"');
    expect(rowCEL({ path: "event.values.a-b", op: "unset", value: "", kind: "string" })).toBe('!("a-b" in event.values)');
  });
});

describe("buildCondition", () => {
  it("joins rows and leaves empty rows out", () => {
    const c: Condition = { join: "&&", rows: [
      { path: "tenant.id", op: "!=", value: "demo", kind: "string" },
      { path: "", op: "==", value: "ignored", kind: "string" },
      { path: "entity.values.sales_notified", op: "!=", value: "true", kind: "boolean" },
    ] };
    expect(buildCondition(c)).toBe('tenant.id != "demo" && entity.values.sales_notified != true');
    expect(buildCondition({ join: "||", rows: [] })).toBe("");
  });
});

describe("parseCondition", () => {
  it("reads back every row the builder writes", () => {
    const c: Condition = { join: "||", rows: [
      { path: "tenant.id", op: "!=", value: 'de"mo\\', kind: "string" },
      { path: "entity.values.size", op: ">", value: "2.5", kind: "number" },
      { path: "entity.values.size", op: "in", value: "1, 2", kind: "number" },
      { path: "entity.values.ok", op: "==", value: "false", kind: "boolean" },
      { path: "entity.values.tags", op: "includes", value: "vip", kind: "list" },
      { path: "event.value", op: "endsWith", value: "\n", kind: "string" },
      { path: "entity.values.stage", op: "unset", value: "", kind: "string" },
      { path: "steps.quote.response.headers.X-Rate", op: "==", value: "1", kind: "string" },
    ] };
    expect(parseCondition(buildCondition(c))).toEqual(c);
  });
  it("reads single-quoted strings as people write them", () => {
    expect(parseCondition("tenant.id != 'demo'")).toEqual({ join: "&&", rows: [{ path: "tenant.id", op: "!=", value: "demo", kind: "string" }] });
  });
  it("gives up on what rows cannot hold", () => {
    expect(parseCondition("a == 1 && b == 2 || c == 3")).toBeNull();
    expect(parseCondition("(a == 1)")).toBeNull();
    expect(parseCondition("size(entity.values.tags) > 2")).toBeNull();
    expect(parseCondition('a == "unterminated')).toBeNull();
    expect(parseCondition("a == b")).toBeNull();
  });
  it("is empty rows for no condition", () => {
    expect(parseCondition("  ")).toEqual({ join: "&&", rows: [] });
  });
});
