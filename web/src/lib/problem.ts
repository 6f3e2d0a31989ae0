// problem.ts turns the API's RFC 9457 problem+json answers into text a
// person can act on, keeping each offending location beside its message.

export interface Problem {
  title?: string;
  status?: number;
  detail?: string;
  errors?: { location?: string; message?: string }[] | null;
}

/** describeProblem is one line per issue: the detail, then "location: message". */
export function describeProblem(p: unknown, fallback = "request failed"): string[] {
  if (!p || typeof p !== "object") return [fallback];
  const pr = p as Problem;
  const lines = [pr.detail || pr.title || fallback];
  for (const e of pr.errors ?? []) {
    if (!e) continue;
    lines.push(e.location ? `${e.location}: ${e.message ?? "invalid"}` : (e.message ?? "invalid"));
  }
  return lines;
}

/** fieldErrors maps "body.<name>" locations to their messages, for inline form errors. */
export function fieldErrors(p: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of (p as Problem | undefined)?.errors ?? []) {
    if (e?.location) out[e.location.replace(/^body\./, "")] = e.message ?? "invalid";
  }
  return out;
}
