import { describe, expect, it } from "vitest";
import { buildAutomation, emptyAction, emptyAutomation, formFromAutomation, move, nextStepName, sampleEvent } from "./automation";

describe("buildAutomation", () => {
  it("makes README's company-size automation from the form", () => {
    const f = emptyAutomation();
    f.name = "Notify sales when accounts grow";
    Object.assign(f, { kind: "field", fieldGroup: "customer", fieldKey: "company_size", from: "1-10", to: "51-200" });
    f.condition = { join: "&&", rows: [{ path: "tenant.id", op: "!=", value: "demo", kind: "string" }] };
    const a = f.actions[0];
    Object.assign(a, { url: "https://hooks.example.com/sales", timeoutSeconds: "30", retrySchedule: "10s, 1m,10m" });
    a.auth.type = "bearer";
    a.auth.token = "{{secrets.slack_token}}";
    a.headers = [{ key: "X-App-Version", value: "2024-11-01" }, { key: " ", value: "dropped" }];
    a.query = [{ key: "source", value: "workflow" }];
    a.jsonRows = [{ key: "text", value: "{{event.entityId}} grew to {{event.value}}" }];
    const mark = emptyAction("set_field", "mark");
    mark.values = [{ key: "sales_notified", value: "true" }];
    f.actions.push(mark);
    expect(buildAutomation(f, { company_size: "select", sales_notified: "boolean" })).toEqual({
      name: "Notify sales when accounts grow", active: true,
      trigger: { event: "field_value.saved", fieldGroup: "customer", fieldKey: "company_size", from: "1-10", to: "51-200",
        condition: 'tenant.id != "demo"' },
      actions: [
        { name: "notify", type: "http", method: "POST", url: "https://hooks.example.com/sales",
          auth: { type: "bearer", token: "{{secrets.slack_token}}" }, headers: { "X-App-Version": "2024-11-01" },
          query: { source: "workflow" }, body: { type: "json", json: { text: "{{event.entityId}} grew to {{event.value}}" } },
          timeoutSeconds: 30, retry: { schedule: ["10s", "1m", "10m"] } },
        { name: "mark", type: "set_field", values: { sales_notified: true } },
      ],
    });
  });
  it("writes time rules with typed values", () => {
    const f = emptyAutomation();
    Object.assign(f, { name: "w", kind: "sla", fieldGroup: "customer", fieldKey: "stage", slaValue: "waiting", after: "72h" });
    f.actions = [Object.assign(emptyAction("webhook", "alert"), { url: "https://ops.example.com/hooks/sla" })];
    const b = buildAutomation(f, { stage: "string" });
    expect(b.trigger).toEqual({ sla: { fieldGroup: "customer", fieldKey: "stage", value: "waiting", after: "72h" } });
    expect(b.actions).toEqual([{ name: "alert", type: "webhook", url: "https://ops.example.com/hooks/sla" }]);
    Object.assign(f, { kind: "date", fieldKey: "renewal", offset: "-24h" });
    expect(buildAutomation(f, {}).trigger).toEqual({ date: { fieldGroup: "customer", fieldKey: "renewal", offset: "-24h" } });
  });
  it("sends from and to as the field's type, and raw CEL as typed", () => {
    const f = emptyAutomation();
    Object.assign(f, { name: "n", fieldGroup: "g", fieldKey: "n", from: "", to: "5", conditionMode: "raw", conditionRaw: " size(x) > 1 " });
    expect(buildAutomation(f, { n: "number" }).trigger).toEqual({ event: "field_value.saved", fieldGroup: "g", fieldKey: "n", to: 5, condition: "size(x) > 1" });
  });
});

describe("formFromAutomation", () => {
  it("round-trips what the builder makes", () => {
    const f = emptyAutomation();
    Object.assign(f, { name: "r", fieldGroup: "customer", fieldKey: "country", tenantId: "t1" });
    const a = f.actions[0];
    Object.assign(a, { method: "GET", url: "https://rates.example.com", captureResponse: true, retryOnStatus: "429, 503", retrySchedule: "5s" });
    a.auth = { ...a.auth, type: "apiKey", in: "query", name: "key", value: "{{secrets.rates_key}}" };
    const body = buildAutomation(f, {});
    const back = formFromAutomation({ ...body, id: "au_1", tenantId: "t1", active: true, activatedAt: null, health: { state: "ok" },
      createdAt: "", updatedAt: "", trigger: body.trigger!, actions: body.actions });
    expect(buildAutomation(back, {})).toEqual(body);
  });
  it("opens a condition the rows cannot hold in raw mode, and nested JSON as JSON", () => {
    const back = formFromAutomation({ id: "au_1", name: "x", tenantId: null, active: false, activatedAt: null, health: { state: "ok" },
      createdAt: "", updatedAt: "", trigger: { event: "*", condition: "(a == 1)" },
      actions: [{ name: "h", type: "http", url: "https://x", body: { type: "json", json: { a: { b: 1 } } } }] });
    expect(back.kind).toBe("event");
    expect(back.conditionMode).toBe("raw");
    expect(back.conditionRaw).toBe("(a == 1)");
    expect(back.actions[0].jsonMode).toBe("raw");
    expect(JSON.parse(back.actions[0].jsonText)).toEqual({ a: { b: 1 } });
  });
});

describe("steps", () => {
  it("moves a step up and down, not past the ends", () => {
    expect(move([1, 2, 3], 0, -1)).toEqual([1, 2, 3]);
    expect(move([1, 2, 3], 0, 1)).toEqual([2, 1, 3]);
    expect(move([1, 2, 3], 2, -1)).toEqual([1, 3, 2]);
    expect(move([1, 2, 3], 2, 1)).toEqual([1, 2, 3]);
  });
  it("names a new step uniquely", () => {
    expect(nextStepName([emptyAction("http", "http1")], "http")).toBe("http2");
    expect(nextStepName([], "set_field")).toBe("set1");
  });
});

describe("patchOf", () => {
  it("leaves out the tenant and active, which an edit does not change", async () => {
    const { patchOf } = await import("./automation");
    expect(patchOf({ name: "n", tenantId: "t1", active: false, trigger: { event: "*" }, actions: [{ name: "a", type: "webhook", url: "https://x" }] }))
      .toEqual({ name: "n", description: "", trigger: { event: "*" }, actions: [{ name: "a", type: "webhook", url: "https://x" }] });
  });
});

describe("sampleEvent", () => {
  it("is an event of the trigger's type moving from its from to its to", () => {
    const ev = JSON.parse(sampleEvent({ eventType: "field_value.saved", fieldGroup: "customer", fieldKey: "company_size", tenantId: "", from: "1-10", to: "51-200" }));
    expect(ev).toMatchObject({ event: "field_value.saved", tenantId: "acme", fieldGroupKey: "customer", fieldKey: "company_size", value: "51-200", previousValue: "1-10" });
  });
  it("names no field for an event trigger", () => {
    const ev = JSON.parse(sampleEvent({ eventType: "", fieldGroup: "", fieldKey: "", tenantId: "globex" }));
    expect(ev).toEqual({ event: "entity.updated", eventId: "evt_sample", tenantId: "globex" });
  });
});
