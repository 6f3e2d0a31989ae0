// client.ts makes typed calls against a running fieldflow with a client
// generated from the server's own OpenAPI document (openapi-typescript and
// openapi-fetch): if the document and the server disagree, this either
// does not compile or fails here. Usage: FF_URL=… FF_KEY=… node dist/client.js
import createClient from "openapi-fetch";
import type { components, paths } from "./gen/schema.js";

type FieldGroup = components["schemas"]["FieldGroup"];

const ff = createClient<paths>({ baseUrl: process.env.FF_URL, headers: { "X-API-Key": process.env.FF_KEY ?? "" } });

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(`client-ts: ${what}`);
}

const tenantId = "sunrise-dental";

const created = await ff.POST("/api/field-groups", { body: { key: "booking", name: "Booking" } });
check(created.response.status === 201 && created.data !== undefined, `create a field group: ${created.response.status}`);
const group: FieldGroup = created.data;
check(group.key === "booking" && group.id.startsWith("fg_"), "the group comes back");

const field = await ff.POST("/api/global-fields", {
  body: { key: "seats", label: "Seats", schema: { type: "number", validation: { min: 1, max: 500 } }, fieldGroupIds: [group.id] },
});
check(field.response.status === 201 && field.data?.fieldGroupIds[0] === group.id, `create a global field: ${field.response.status}`);

const params = { path: { tenantId, fg: "booking", entityId: "booking-1042" } };
const saved = await ff.POST("/api/tenants/{tenantId}/field-groups/{fg}/entities/{entityId}/values", { params, body: { seats: 12 } });
check(saved.response.status === 200, `save a value: ${saved.response.status}`);
const read = await ff.GET("/api/tenants/{tenantId}/field-groups/{fg}/entities/{entityId}/values", { params });
check(read.data?.data.seats === 12 && read.data.version === 1, `read the value back: ${JSON.stringify(read.data)}`);

// An error is typed problem+json, with its location.
const bad = await ff.POST("/api/tenants/{tenantId}/field-groups/{fg}/entities/{entityId}/values", { params, body: { seats: 9000 } });
check(bad.response.status === 422 && bad.error?.errors?.[0]?.location === "body.seats", `a value over max: ${JSON.stringify(bad.error)}`);
const missing = await ff.GET("/api/field-groups/{fg}", { params: { path: { fg: "nope" } } });
check(missing.response.status === 404 && missing.error?.status === 404, "an unknown group is a 404");

const published = await ff.POST("/api/events", { body: { type: "TASK_COMPLETED", tenantId, data: { taskId: "t-7" } } });
check(published.response.status === 202 && published.data?.id.startsWith("evt_") === true, "publish a host event");

const types = await ff.GET("/api/event-types");
const names = (types.data?.data ?? []).map((t) => t.type);
check(names.includes("field_value.saved") && names.includes("TASK_COMPLETED"), `event types: ${names.join(", ")}`);

const list = await ff.GET("/api/events", { params: { query: { tenantId, pageSize: 10 } } });
check((list.data?.data ?? []).some((e) => e.type === "field_value.saved"), "the save's event is listed");

console.log(JSON.stringify({ ok: true, calls: 9 }));
