import { useEffect, useState } from "react";
import { api, type Schemas } from "../api/client";
import { eventTypeOptions, toggle } from "../lib/eventTypes";

/**
 * EventTypePicker chooses a webhook endpoint's event types from the ones
 * the server knows (GET /api/event-types), with a box for a pattern or a
 * type the host has not published yet.
 */
export function EventTypePicker({ value, onChange }: { value: string[]; onChange: (v: string[]) => void }) {
  const [types, setTypes] = useState<Schemas["EventTypeInfo"][]>([]);
  const [other, setOther] = useState("");
  useEffect(() => {
    api.GET("/api/event-types").then(({ data }) => setTypes(data?.data ?? []));
  }, []);
  const add = () => {
    const v = other.trim();
    if (v && !value.includes(v)) onChange([...value, v]);
    setOther("");
  };
  return (
    <fieldset className="box">
      <legend>Event types</legend>
      <div className="checks">
        {eventTypeOptions(types, value).map((o) => (
          <label key={o.value} className="check" title={o.description}>
            <input type="checkbox" checked={value.includes(o.value)} onChange={() => onChange(toggle(value, o.value))} />{o.label}
          </label>
        ))}
      </div>
      <div className="row">
        <label>Other type or pattern<input value={other} onChange={(e) => setOther(e.target.value)} placeholder="order.*"
          onKeyDown={(e) => { if (e.key === "Enter") { e.preventDefault(); add(); } }} /></label>
        <button type="button" onClick={add} disabled={!other.trim()}>Add type</button>
      </div>
    </fieldset>
  );
}
