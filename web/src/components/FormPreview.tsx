import type { PreviewField } from "../lib/preview";
import { inputType } from "../lib/preview";

/**
 * FormPreview draws the form a tenant fills for an entity of the group,
 * as its fields stand now, with the field being edited highlighted. Its
 * boxes can be tried; nothing is saved.
 */
export function FormPreview({ fields, note }: { fields: PreviewField[]; note?: string }) {
  return (
    <section className="card preview" aria-label="Form preview">
      <h3>Preview: the form a tenant sees {note && <span className="muted">{note}</span>}</h3>
      {fields.length === 0 && <p className="muted">No fields yet.</p>}
      <form onSubmit={(e) => e.preventDefault()}>
        {fields.map((f) => <PreviewInput key={`${f.scope}:${f.key}:${f.draft ? "draft" : ""}`} f={f} />)}
      </form>
    </section>
  );
}

function PreviewInput({ f }: { f: PreviewField }) {
  const v = f.schema.validation ?? {};
  const ui = f.schema.ui ?? {};
  const name = f.label || f.key;
  const head = (
    <>
      {name}{v.required && <span className="bad" aria-hidden="true"> *</span>}
      {f.draft && <span className="pill">editing</span>}
    </>
  );
  const common = { "aria-label": `Preview ${name}`, placeholder: ui.placeholder, required: !!v.required };
  let box;
  switch (f.schema.type) {
    case "select":
      box = <select {...common} defaultValue=""><option value="">—</option>{(v.options ?? []).map((o) => <option key={o}>{o}</option>)}</select>;
      break;
    case "multiselect":
      box = <select {...common} multiple>{(v.options ?? []).map((o) => <option key={o}>{o}</option>)}</select>;
      break;
    case "boolean":
      return <label className="check"><input type="checkbox" aria-label={`Preview ${name}`} />{head}</label>;
    case "textarea": case "json":
      box = <textarea {...common} rows={f.schema.type === "json" ? 3 : 2} maxLength={v.maxLength} />;
      break;
    default:
      box = <input {...common} type={inputType(f.schema.type)} minLength={v.minLength} maxLength={v.maxLength}
        min={v.min} max={v.max} />;
  }
  return (
    <label>
      <span>{head}</span>
      {box}
      {ui.helpText && <small className="muted">{ui.helpText}</small>}
    </label>
  );
}
