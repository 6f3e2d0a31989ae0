import { describe, expect, it } from "vitest";
import { applyTheme, tokenOf, type ThemeTarget } from "./portal";

describe("tokenOf", () => {
  it("reads the token from the fragment, and nothing else", () => {
    expect(tokenOf("#token=ffp_abc-_1")).toBe("ffp_abc-_1");
    expect(tokenOf("#other=1&token=ffp_x")).toBe("ffp_x");
    expect(tokenOf("")).toBe("");
    expect(tokenOf("#tokens=ffp_x")).toBe("");
  });
});

describe("applyTheme", () => {
  const target = () => {
    const props: Record<string, string> = {};
    const t: ThemeTarget & { props: typeof props } = { props, style: { setProperty: (k, v) => { props[k] = v; } }, dataset: {} };
    return t;
  };
  it("sets the accent colour and a chosen mode", () => {
    const t = target();
    applyTheme({ accentColor: "#0a7f5a", mode: "dark" }, t);
    expect(t.props["--accent"]).toBe("#0a7f5a");
    expect(t.dataset.theme).toBe("dark");
  });
  it("leaves the system's mode for auto and no accent alone", () => {
    const t = target();
    t.dataset.theme = "light";
    applyTheme({ mode: "auto" }, t);
    expect(t.dataset.theme).toBeUndefined();
    expect(t.props["--accent"]).toBeUndefined();
  });
});
