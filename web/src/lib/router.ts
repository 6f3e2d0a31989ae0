// router.ts is the app's whole router: the path is the state, pushState
// changes it, and the server answers every client route with index.html.
import { useEffect, useState } from "react";

// base is where the app is mounted: "" for the dashboard, "/portal" for
// the tenant portal. It is set once, before the app renders; the pages
// speak of their own paths (/webhooks/…) and never see it.
let base = "";

export function setBase(b: string) {
  base = b;
}

/** link is the address of an app path, for an href. */
export function link(to: string): string {
  return base + to;
}

/** appPath is a location's path within the app, base removed. */
export function appPath(pathname: string): string {
  if (!base) return pathname;
  const rest = pathname.startsWith(base) ? pathname.slice(base.length) : pathname;
  return rest === "" ? "/" : rest;
}

export function navigate(to: string) {
  window.history.pushState(null, "", link(to));
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export function usePath(): string {
  const [path, setPath] = useState(appPath(window.location.pathname));
  useEffect(() => {
    const on = () => setPath(appPath(window.location.pathname));
    window.addEventListener("popstate", on);
    return () => window.removeEventListener("popstate", on);
  }, []);
  return path;
}

/** match returns the path's segments after prefix, or null when it is not under prefix. */
export function match(path: string, prefix: string): string[] | null {
  if (path !== prefix && !path.startsWith(prefix + "/")) return null;
  return path.slice(prefix.length).split("/").filter(Boolean).map(decodeURIComponent);
}
