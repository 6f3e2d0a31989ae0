// client.ts is the one API client of the app, typed from the server's own
// OpenAPI document (schema.d.ts is generated: npm run gen:api). The session
// cookie is HttpOnly and sent by the browser; writes add the CSRF token the
// login answer (or GET /api/sessions/current) gave.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

const writes = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const session = { csrf: "", portal: false };

export function setCSRF(token: string) {
  session.csrf = token;
}

/**
 * setPortal marks every request as the tenant portal's: the server then
 * acts with the portal session's cookie (and only then), so a dashboard
 * login in the same browser is never mixed up with it.
 */
export function setPortal(on: boolean) {
  session.portal = on;
}

const csrfMiddleware: Middleware = {
  onRequest({ request }) {
    if (writes.has(request.method) && session.csrf) request.headers.set("X-CSRF-Token", session.csrf);
    if (session.portal) request.headers.set("X-Fieldflow-Portal", "1");
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });
api.use(csrfMiddleware);

/** requestHeaders are the headers a request made outside api (a stream) needs. */
export function requestHeaders(): Record<string, string> {
  return session.portal ? { "X-Fieldflow-Portal": "1" } : {};
}
