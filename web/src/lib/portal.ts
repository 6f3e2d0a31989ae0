// portal.ts holds the tenant portal's small pieces of logic: reading the
// link's token and applying the vendor's theme.
import type { Schemas } from "../api/client";

/** tokenOf reads the link's one-time token from a location hash (#token=…). */
export function tokenOf(hash: string): string {
  return new URLSearchParams(hash.replace(/^#/, "")).get("token") ?? "";
}

/** ThemeTarget is the part of the page's root element a theme changes. */
export type ThemeTarget = { style: { setProperty(name: string, value: string): void }; dataset: Record<string, string | undefined> };

/** applyTheme puts the vendor's accent colour and light or dark mode on the page; auto follows the system. */
export function applyTheme(theme: Schemas["PortalTheme"], root: ThemeTarget) {
  if (theme.accentColor) root.style.setProperty("--accent", theme.accentColor);
  if (theme.mode === "light" || theme.mode === "dark") root.dataset.theme = theme.mode;
  else delete root.dataset.theme;
}
