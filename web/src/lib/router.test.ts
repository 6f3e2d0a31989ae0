import { describe, expect, it } from "vitest";
import { match } from "./router";

describe("match", () => {
  it("gives the segments under a prefix, decoded", () => {
    expect(match("/webhooks/wh_1", "/webhooks")).toEqual(["wh_1"]);
    expect(match("/events/evt%2F1", "/events")).toEqual(["evt/1"]);
    expect(match("/webhooks", "/webhooks")).toEqual([]);
  });
  it("does not take a longer name for its prefix", () => {
    expect(match("/webhooksx", "/webhooks")).toBeNull();
    expect(match("/fields", "/webhooks")).toBeNull();
  });
});
