// client.ts is the one API client of the app, typed from the server's own
// OpenAPI document (schema.d.ts is generated: npm run gen:api). The session
// cookie is HttpOnly and sent by the browser; writes add the CSRF token the
// login answer (or GET /api/sessions/current) gave.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

const writes = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const session = { csrf: "" };

export function setCSRF(token: string) {
  session.csrf = token;
}

const csrfMiddleware: Middleware = {
  onRequest({ request }) {
    if (writes.has(request.method) && session.csrf) request.headers.set("X-CSRF-Token", session.csrf);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });
api.use(csrfMiddleware);
