import { describe, expect, it } from "vitest";
import { eventMembers, insertPath, openTag, suggest, templatePaths, type PathContext } from "./paths";

const ctx: PathContext = {
  eventType: "field_value.saved",
  fields: [{ key: "company_size", type: "select" }, { key: "country", type: "string" }],
  vars: ["base_url"],
  secrets: ["slack_token"],
  steps: [{ name: "quote", captured: true }, { name: "ping", captured: false }],
};

describe("eventMembers", () => {
  it("knows the payload of each kind of event", () => {
    expect(eventMembers("field_value.saved", [])).toContain("previousValue");
    expect(eventMembers("field_value.*", [])).toContain("fieldKey");
    expect(eventMembers("entity.updated", [{ key: "stage" }])).toEqual(expect.arrayContaining(["values.stage", "previousValues.stage", "changedKeys", "version"]));
    expect(eventMembers("automation.sla_reached", [])).toEqual(expect.arrayContaining(["heldSince", "after", "value"]));
    expect(eventMembers("automation.date_reached", [])).toContain("offset");
    expect(eventMembers("invoice.paid", [])).toEqual(["event", "eventId", "timestamp", "tenantId", "causedBy"]);
  });
});

describe("templatePaths", () => {
  it("offers the event, the group's values, the tenant, variables, secrets and captured steps", () => {
    const p = templatePaths(ctx);
    expect(p).toEqual(expect.arrayContaining(["event.entityId", "event.value", "entity.values.company_size", "tenant.id",
      "vars.base_url", "secrets.slack_token", "steps.quote.response.body", "steps.quote.response.status"]));
    expect(p.some((x) => x.startsWith("steps.ping"))).toBe(false);
    expect(new Set(p).size).toBe(p.length);
  });
});

describe("openTag", () => {
  it("finds the tag the cursor is in", () => {
    expect(openTag("Hi {{event.en", 13)).toEqual({ start: 5, partial: "event.en" });
    expect(openTag("{{", 2)).toEqual({ start: 2, partial: "" });
    expect(openTag("{{ sec", 6)).toEqual({ start: 2, partial: "sec" });
  });
  it("is null outside a tag", () => {
    expect(openTag("plain", 5)).toBeNull();
    expect(openTag("{{event.value}} and", 19)).toBeNull();
    expect(openTag("{{a b", 5)).toBeNull();
  });
});

describe("suggest", () => {
  it("lists prefix matches first, then substring matches", () => {
    const s = suggest(ctx, "{{s", 3);
    expect(s[0]).toBe("secrets.slack_token");
    expect(s).toContain("steps.quote.response.body");
    expect(s).toContain("entity.values.company_size"); // contains an s
    expect(s.indexOf("steps.quote.response.status")).toBeLessThan(s.indexOf("entity.values.company_size"));
  });
  it("offers nothing outside a tag or once the path is complete", () => {
    expect(suggest(ctx, "https://x", 9)).toEqual([]);
    expect(suggest(ctx, "{{tenant.id", 11)).toEqual([]);
  });
  it("honours the limit", () => {
    expect(suggest(ctx, "{{", 2, 3)).toHaveLength(3);
  });
});

describe("insertPath", () => {
  it("replaces what was typed of the tag and closes it", () => {
    expect(insertPath("Hi {{event.en", 13, "event.entityId")).toEqual({ text: "Hi {{event.entityId}}", cursor: 21 });
  });
  it("keeps the text after the cursor and does not double a closing brace", () => {
    expect(insertPath("a {{ev}} b", 6, "event.value")).toEqual({ text: "a {{event.value}} b", cursor: 17 });
    expect(insertPath("a {{ev b", 6, "event.value")).toEqual({ text: "a {{event.value}} b", cursor: 17 });
  });
  it("inserts a whole tag outside one", () => {
    expect(insertPath("Bearer ", 7, "secrets.t")).toEqual({ text: "Bearer {{secrets.t}}", cursor: 20 });
  });
});
