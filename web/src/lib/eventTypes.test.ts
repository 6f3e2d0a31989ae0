import { describe, expect, it } from "vitest";
import { eventTypeOptions, toggle } from "./eventTypes";

const types = [
  { type: "field_value.saved", builtIn: true, description: "A value was saved." },
  { type: "field_value.deleted", builtIn: true },
  { type: "entity.updated", builtIn: true },
  { type: "automation.timer", builtIn: true, runsOnly: true },
  { type: "TASK_COMPLETED", builtIn: false },
];

describe("eventTypeOptions", () => {
  it("offers every event, each family's wildcard and the deliverable types", () => {
    expect(eventTypeOptions(types).map((o) => o.value)).toEqual(
      ["*", "field_value.*", "field_value.saved", "field_value.deleted", "entity.updated", "TASK_COMPLETED"]);
    expect(eventTypeOptions(types)[2].description).toBe("A value was saved.");
  });
  it("keeps selected values the server does not list", () => {
    expect(eventTypeOptions(types, ["order.*", "*", "order.*"]).map((o) => o.value).slice(-1)).toEqual(["order.*"]);
  });
});

describe("toggle", () => {
  it("adds and removes", () => {
    expect(toggle(["a", "b"], "c")).toEqual(["a", "b", "c"]);
    expect(toggle(["a", "b", "c"], "b")).toEqual(["a", "c"]);
  });
});
