import { describe, expect, it } from "vitest";
import { inputType, previewFields } from "./preview";

const g = [{ id: "gf_1", key: "size", label: "Size", schema: { type: "select" as const, validation: { options: ["S", "M"] } } }];
const t = [{ id: "tf_1", key: "tier", label: "Tier", schema: { type: "string" as const } }];

describe("previewFields", () => {
  it("lists global fields, then the tenant's", () => {
    expect(previewFields(g, t, null).map((f) => `${f.scope}:${f.key}`)).toEqual(["global:size", "tenant:tier"]);
  });
  it("shows a stored field being edited as it is typed", () => {
    const fs = previewFields(g, t, { id: "gf_1", key: "size", label: "Company size", schema: { type: "string" }, scope: "global" });
    expect(fs[0]).toEqual({ key: "size", label: "Company size", schema: { type: "string" }, scope: "global", draft: true });
    expect(fs).toHaveLength(2);
  });
  it("adds a new field after its scope's, once it has a key or label", () => {
    const draft = { key: "vip", label: "", schema: { type: "boolean" as const }, scope: "global" as const };
    expect(previewFields(g, t, draft).map((f) => f.key)).toEqual(["size", "vip", "tier"]);
    expect(previewFields(g, t, { ...draft, scope: "tenant" }).map((f) => f.key)).toEqual(["size", "tier", "vip"]);
    expect(previewFields(g, t, { ...draft, key: " " })).toHaveLength(2);
  });
});

describe("inputType", () => {
  it("maps field types to inputs", () => {
    expect(["number", "date", "datetime", "email", "url", "phone", "string"].map(inputType))
      .toEqual(["number", "date", "datetime-local", "email", "url", "tel", "text"]);
  });
});
