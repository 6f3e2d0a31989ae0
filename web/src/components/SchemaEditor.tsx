import { useState } from "react";
import { checkPattern, fieldTypes, rulesFor, type FieldType, type SchemaForm } from "../lib/schema";

// SchemaEditor edits a field's type, the rules that type takes and its UI
// hints; the pattern box checks itself (and a sample) as you type.
export function SchemaEditor({ form, onChange }: { form: SchemaForm; onChange: (f: SchemaForm) => void }) {
  const [sample, setSample] = useState("");
  const rules = new Set(rulesFor(form.type));
  const set = (patch: Partial<SchemaForm>) => onChange({ ...form, ...patch });
  const pat = checkPattern(form.pattern, sample);
  return (
    <fieldset className="schema">
      <legend>Schema</legend>
      <label>Type
        <select value={form.type} onChange={(e) => set({ type: e.target.value as FieldType })}>
          {fieldTypes.map((t) => <option key={t}>{t}</option>)}
        </select>
      </label>
      <div className="row">
        {rules.has("required") && <label className="check"><input type="checkbox" checked={form.required} onChange={(e) => set({ required: e.target.checked })} />Required</label>}
        {rules.has("unique") && <label className="check"><input type="checkbox" checked={form.unique} onChange={(e) => set({ unique: e.target.checked })} />Unique</label>}
      </div>
      <div className="row">
        {rules.has("minLength") && <label>Min length<input inputMode="numeric" value={form.minLength} onChange={(e) => set({ minLength: e.target.value })} /></label>}
        {rules.has("maxLength") && <label>Max length<input inputMode="numeric" value={form.maxLength} onChange={(e) => set({ maxLength: e.target.value })} /></label>}
        {rules.has("min") && <label>Min<input inputMode="decimal" value={form.min} onChange={(e) => set({ min: e.target.value })} /></label>}
        {rules.has("max") && <label>Max<input inputMode="decimal" value={form.max} onChange={(e) => set({ max: e.target.value })} /></label>}
      </div>
      {rules.has("pattern") && (
        <div className="row">
          <label>Pattern (RE2)<input value={form.pattern} onChange={(e) => set({ pattern: e.target.value })} /></label>
          <label>Try a sample<input value={sample} onChange={(e) => setSample(e.target.value)} /></label>
          {form.pattern && <span className={pat.ok ? "ok" : "bad"} role="status">{pat.message}</span>}
        </div>
      )}
      {rules.has("options") && (
        <label>Options (one per line)<textarea rows={4} value={form.options} onChange={(e) => set({ options: e.target.value })} /></label>
      )}
      <div className="row">
        <label>Placeholder<input value={form.placeholder} onChange={(e) => set({ placeholder: e.target.value })} /></label>
        <label>Help text<input value={form.helpText} onChange={(e) => set({ helpText: e.target.value })} /></label>
      </div>
    </fieldset>
  );
}
