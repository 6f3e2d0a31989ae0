import { describe, expect, it } from "vitest";
import { describeProblem, fieldErrors } from "./problem";

describe("describeProblem", () => {
  it("lists the detail then each location with its message", () => {
    const lines = describeProblem({
      status: 422,
      title: "Unprocessable Entity",
      detail: "validation failed",
      errors: [{ location: "body.company_size", message: "expected one of 1-10, 11-50" }, { message: "bare" }],
    });
    expect(lines).toEqual(["validation failed", "body.company_size: expected one of 1-10, 11-50", "bare"]);
  });
  it("falls back when the answer is not a problem", () => {
    expect(describeProblem(undefined, "network error")).toEqual(["network error"]);
    expect(describeProblem({ title: "Forbidden" })).toEqual(["Forbidden"]);
  });
});

describe("fieldErrors", () => {
  it("keys messages by the body property they name", () => {
    expect(fieldErrors({ errors: [{ location: "body.key", message: "taken" }, { location: "query.page", message: "bad" }] }))
      .toEqual({ key: "taken", "query.page": "bad" });
  });
});
