// ui.tsx holds the small shared pieces every page uses: an error box that
// shows the API's problem+json with its locations, and a time cell.
import { useEffect, useState } from "react";
import { api } from "../api/client";
import { describeProblem } from "../lib/problem";

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <div role="alert" className="error">
      {describeProblem(error).map((l, i) => <div key={i}>{l}</div>)}
    </div>
  );
}

export function Time({ at }: { at?: string | null }) {
  if (!at) return <span className="muted">—</span>;
  return <time dateTime={at} title={at}>{new Date(at).toLocaleString()}</time>;
}

export function Json({ value }: { value: unknown }) {
  return <pre className="json">{JSON.stringify(value, null, 2)}</pre>;
}

/**
 * ExpressionStatus checks a CEL filter or condition as it is typed (after a
 * short pause), with the same checks a save makes, and says what is wrong.
 */
export function ExpressionStatus({ kind, expression }: { kind: "filter" | "condition"; expression: string }) {
  const [state, setState] = useState<{ valid: boolean; error?: string } | null>(null);
  useEffect(() => {
    if (!expression.trim()) { setState(null); return; }
    let live = true;
    const t = setTimeout(async () => {
      const { data } = await api.POST("/api/expressions/check", { body: { kind, expression } });
      if (live && data) setState(data);
    }, 300);
    return () => { live = false; clearTimeout(t); };
  }, [kind, expression]);
  if (!state) return null;
  return (
    <span role="status" className={state.valid ? "ok" : "bad"}>
      {state.valid ? "✓ valid CEL" : `✗ ${state.error}`}
    </span>
  );
}
