// router.ts is the app's whole router: the path is the state, pushState
// changes it, and the server answers every client route with index.html.
import { useEffect, useState } from "react";

export function navigate(to: string) {
  window.history.pushState(null, "", to);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export function usePath(): string {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const on = () => setPath(window.location.pathname);
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
