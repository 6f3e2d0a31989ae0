import { useState } from "react";
import { api, setCSRF, type Schemas } from "../api/client";
import { ErrorBox } from "./ui";

// Login trades an API key for a session cookie; the key is sent once and
// kept nowhere in the browser.
export function Login({ onLogin }: { onLogin: (s: Schemas["SessionView"]) => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<unknown>(null);
  return (
    <main className="login">
      <form
        className="card"
        onSubmit={async (e) => {
          e.preventDefault();
          const { data, error } = await api.POST("/api/sessions", { body: { key } });
          if (error || !data) return setError(error ?? { detail: "login failed" });
          setKey("");
          setCSRF(data.csrfToken ?? "");
          onLogin(data);
        }}
      >
        <h1>fieldflow</h1>
        <label>
          API key
          <input type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} required />
        </label>
        <ErrorBox error={error} />
        <button type="submit">Log in</button>
      </form>
    </main>
  );
}
