import { describe, expect, it } from "vitest";
import { appPath, link, match, setBase } from "./router";

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

describe("base", () => {
  it("mounts the app's paths under the portal and takes them back off", () => {
    setBase("/portal");
    expect(link("/webhooks/wh_1")).toBe("/portal/webhooks/wh_1");
    expect(appPath("/portal/webhooks/wh_1")).toBe("/webhooks/wh_1");
    expect(appPath("/portal")).toBe("/");
    setBase("");
    expect(link("/webhooks")).toBe("/webhooks");
    expect(appPath("/webhooks")).toBe("/webhooks");
  });
});
