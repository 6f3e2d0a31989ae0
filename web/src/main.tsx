import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { api, setCSRF, type Schemas } from "./api/client";
import { Login } from "./components/Login";
import { Portal } from "./Portal";
import { link, navigate, setBase, usePath } from "./lib/router";
import { Overview } from "./pages/Overview";
import { Fields } from "./pages/Fields";
import { Records } from "./pages/Records";
import { Events } from "./pages/Events";
import { Webhooks } from "./pages/Webhooks";
import { Automations } from "./pages/Automations";
import { Settings } from "./pages/Settings";
import "./styles.css";

// The overview's numbers are every tenant's: it is an admin's page.
export const pages = [
  { path: "/overview", label: "Overview", page: Overview, admin: true },
  { path: "/fields", label: "Fields", page: Fields },
  { path: "/records", label: "Records", page: Records },
  { path: "/events", label: "Events", page: Events },
  { path: "/webhooks", label: "Webhooks", page: Webhooks },
  { path: "/automations", label: "Automations", page: Automations },
  { path: "/settings", label: "Settings", page: Settings },
];

function App() {
  const [who, setWho] = useState<Schemas["SessionView"] | null | undefined>(undefined);
  const path = usePath();
  useEffect(() => {
    api.GET("/api/sessions/current").then(({ data }) => {
      setCSRF(data?.csrfToken ?? "");
      setWho(data ?? null);
    });
  }, []);
  if (who === undefined) return null;
  if (who === null) return <Login onLogin={setWho} />;
  const mine = pages.filter((p) => !p.admin || who.role === "admin");
  const current = mine.find((p) => path === p.path || path.startsWith(p.path + "/")) ?? mine[0];
  const Page = current.page;
  return (
    <div className="shell">
      <nav aria-label="Main">
        <div className="brand">fieldflow</div>
        {mine.map((p) => (
          <a key={p.path} href={link(p.path)} aria-current={p === current ? "page" : undefined}
            onClick={(e) => { e.preventDefault(); navigate(p.path); }}>{p.label}</a>
        ))}
        <div className="who">
          {who.role}{who.tenantId ? ` · ${who.tenantId}` : ""}
          <button className="link" onClick={async () => {
            await api.DELETE("/api/sessions/current");
            setCSRF("");
            setWho(null);
          }}>Log out</button>
        </div>
      </nav>
      <main><Page path={path} who={who} /></main>
    </div>
  );
}

// /portal is the tenant portal a vendor embeds; everything else is the
// dashboard.
const portal = window.location.pathname === "/portal" || window.location.pathname.startsWith("/portal/");
if (portal) setBase("/portal");

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    {portal ? <Portal /> : <App />}
  </StrictMode>,
);
