// ui.tsx holds the small shared pieces every page uses: an error box that
// shows the API's problem+json with its locations, and a time cell.
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
