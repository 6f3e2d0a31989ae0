// Portal.tsx is the tenant portal: the same pages as the dashboard, for one
// tenant, showing only the sections its link grants, in the vendor's
// colours. It opens with the one-time token in the URL's fragment, trades
// it for a session (an HttpOnly cookie), and drops the token from the
// address bar at once.
import { useEffect, useState } from "react";
import { api, setCSRF, setPortal, type Schemas } from "./api/client";
import { link, navigate, usePath } from "./lib/router";
import { applyTheme, tokenOf } from "./lib/portal";
import { Fields } from "./pages/Fields";
import { Records } from "./pages/Records";
import { Events } from "./pages/Events";
import { Webhooks } from "./pages/Webhooks";
import { Automations } from "./pages/Automations";
import { Settings } from "./pages/Settings";

type View = Schemas["PortalView"];

const sections = [
  { feature: "fields", path: "/fields", label: "Fields", page: Fields },
  { feature: "records", path: "/records", label: "Records", page: Records },
  { feature: "webhooks", path: "/webhooks", label: "Webhooks", page: Webhooks },
  { feature: "webhooks", path: "/events", label: "Events", page: Events },
  { feature: "automations", path: "/automations", label: "Automations", page: Automations },
  { feature: "settings", path: "/settings", label: "Settings", page: Settings },
];


export function Portal() {
  const [view, setView] = useState<View | null | undefined>(undefined);
  const path = usePath();
  useEffect(() => {
    setPortal(true);
    (async () => {
      const token = tokenOf(window.location.hash);
      if (token) {
        // The token works once: take it out of the address bar and history.
        window.history.replaceState(null, "", window.location.pathname);
        const { error } = await api.POST("/api/portal-sessions/redeem", { body: { token } });
        // A used or expired link is dead, even in a browser that still
        // holds a session from it.
        if (error) return setView(null);
      }
      const { data } = await api.GET("/api/portal-sessions/current");
      if (data) {
        setCSRF(data.csrfToken);
        applyTheme(data.theme, document.documentElement);
        document.title = data.theme.name || "Portal";
      }
      setView(data ?? null);
    })();
  }, []);
  if (view === undefined) return null;
  if (view === null) {
    return (
      <main className="portal-ended">
        <h1>This portal link has ended</h1>
        <p role="alert">The link was used already, or it has expired. Open the portal again from your app to get a new one.</p>
      </main>
    );
  }
  const allowed = sections.filter((s) => view.features.includes(s.feature));
  const current = allowed.find((s) => path === s.path || path.startsWith(s.path + "/")) ?? allowed[0];
  const Page = current.page;
  const who: Schemas["SessionView"] = { role: "tenant", tenantId: view.tenantId, keyId: "", via: "portal" };
  return (
    <div className="shell portal">
      <nav aria-label="Main">
        <div className="brand">
          {view.theme.logo && <img src={view.theme.logo} alt="" className="logo" />}
          {view.theme.name || "fieldflow"}
        </div>
        {allowed.map((s) => (
          <a key={s.path} href={link(s.path)} aria-current={s === current ? "page" : undefined}
            onClick={(e) => { e.preventDefault(); navigate(s.path); }}>{s.label}</a>
        ))}
        <div className="who">{view.tenantId}</div>
      </nav>
      <main><Page path={path} who={who} /></main>
    </div>
  );
}
