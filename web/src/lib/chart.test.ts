import { describe, expect, it } from "vitest";
import { age, bucketLabel, linePath, niceMax, percent, stackedBars, sum } from "./chart";

describe("niceMax", () => {
  it("rounds up to 1, 2 or 5 times a power of ten", () => {
    expect([0, 1, 3, 7, 10, 11, 19, 21, 49, 51, 420, 1000].map(niceMax)).toEqual([1, 1, 5, 10, 10, 20, 20, 50, 50, 100, 500, 1000]);
  });
  it("treats nonsense as an empty chart", () => {
    expect(niceMax(NaN)).toBe(1);
    expect(niceMax(-3)).toBe(1);
  });
});

describe("stackedBars", () => {
  it("stacks the series bottom up, one bar per bucket, none for zero", () => {
    const bars = stackedBars([[2, 0, 1], [2, 0, 0]], 300, 100, 4);
    expect(bars).toEqual([
      { index: 0, series: 0, x: 10, y: 50, w: 80, h: 50, value: 2 },
      { index: 0, series: 1, x: 10, y: 0, w: 80, h: 50, value: 2 },
      { index: 2, series: 0, x: 210, y: 75, w: 80, h: 25, value: 1 },
    ]);
  });
  it("draws nothing without buckets", () => {
    expect(stackedBars([], 100, 100, 1)).toEqual([]);
  });
});

describe("linePath", () => {
  it("runs through the bucket centres", () => {
    expect(linePath([0, 5, 10], 300, 100, 10)).toBe("M50,100 L150,50 L250,0");
    expect(linePath([], 300, 100, 10)).toBe("");
  });
});

describe("sum", () => {
  it("adds up", () => expect(sum([1, 2, 3])).toBe(6));
});

describe("bucketLabel", () => {
  it("shows minutes as a time and hours with their day", () => {
    expect(bucketLabel("2026-04-04T10:05:00Z", 60, "en-GB")).toMatch(/\d\d:05/);
    expect(bucketLabel("2026-04-04T10:00:00Z", 3600, "en-GB")).toMatch(/^Sat/);
  });
});

describe("age", () => {
  it("uses the two largest units", () => {
    expect([0, 45, 200, 3600, 7500, 3 * 86400 + 4 * 3600 + 59].map(age)).toEqual(["0s", "45s", "3m 20s", "1h", "2h 5m", "3d 4h"]);
  });
});

describe("percent", () => {
  it("shows rates, and a dash without attempts", () => {
    expect([1, 0, 0.5, 2 / 3, null].map(percent)).toEqual(["100%", "0%", "50.0%", "66.7%", "—"]);
  });
});
