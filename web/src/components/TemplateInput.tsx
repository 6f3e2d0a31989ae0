import { useLayoutEffect, useRef, useState } from "react";
import { insertPath, suggest, type PathContext } from "../lib/paths";

// TemplateInput is a text box that takes {{path}} templates: typing "{{"
// opens a list of the paths that exist (arrows and Enter or a click pick
// one), and the field's own problem from the server shows under it.
export function TemplateInput({ label, value, onChange, ctx, error, multiline, placeholder, required }: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  ctx: PathContext;
  error?: string;
  multiline?: boolean;
  placeholder?: string;
  required?: boolean;
}) {
  const ref = useRef<HTMLInputElement & HTMLTextAreaElement>(null);
  const [cursor, setCursor] = useState(-1); // -1: not focused
  const [active, setActive] = useState(0);
  const [caret, setCaret] = useState<number | null>(null);
  const list = cursor >= 0 ? suggest(ctx, value, cursor) : [];
  useLayoutEffect(() => {
    if (caret === null || !ref.current) return;
    ref.current.focus();
    ref.current.setSelectionRange(caret, caret);
    setCaret(null);
  }, [caret]);
  const pick = (path: string) => {
    const r = insertPath(value, cursor, path);
    onChange(r.text);
    setCursor(r.cursor);
    setCaret(r.cursor);
    setActive(0);
  };
  const track = (e: { currentTarget: HTMLInputElement | HTMLTextAreaElement }) => setCursor(e.currentTarget.selectionStart ?? e.currentTarget.value.length);
  const props = {
    ref, value, placeholder, required,
    "aria-invalid": error ? true : undefined,
    "aria-autocomplete": "list" as const,
    onChange: (e: React.ChangeEvent<HTMLInputElement & HTMLTextAreaElement>) => { onChange(e.target.value); track(e); setActive(0); },
    onSelect: track, onFocus: track, onClick: track,
    onBlur: () => setCursor(-1),
    onKeyDown: (e: React.KeyboardEvent) => {
      if (!list.length) return;
      if (e.key === "ArrowDown") { e.preventDefault(); setActive((active + 1) % list.length); }
      else if (e.key === "ArrowUp") { e.preventDefault(); setActive((active + list.length - 1) % list.length); }
      else if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); pick(list[Math.min(active, list.length - 1)]); }
      else if (e.key === "Escape") setCursor(-1);
    },
  };
  return (
    <div className="tpl">
      <label>{label}
        {multiline ? <textarea rows={3} {...props} /> : <input {...props} />}
      </label>
      {list.length > 0 && (
        <ul role="listbox" aria-label={`Paths for ${label}`} className="suggest">
          {list.map((p, i) => (
            <li key={p} role="option" aria-selected={i === active} onMouseDown={(e) => { e.preventDefault(); pick(p); }}>{p}</li>
          ))}
        </ul>
      )}
      {error && <small className="bad field-error">{error}</small>}
    </div>
  );
}
