// Sign in with a CRISP (Django) account; the session cookie then authenticates every API call.

import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { login } from "../api/session";
import type { Me } from "../api/types";
import { explainError } from "../lib/errors";
import { ApiError } from "../api/client";

export function LoginPage({ reason, onLoggedIn }: { reason?: string | null; onLoggedIn: (me: Me) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const userId = useId();
  const passId = useId();
  const first = useRef<HTMLInputElement>(null);

  useEffect(() => {
    document.title = "Sign in · CRISP";
    first.current?.focus();
  }, []);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onLoggedIn(await login(username.trim(), password));
    } catch (caught) {
      setError(caught instanceof ApiError && caught.code === "invalid_credentials" ? caught.detail : explainError(caught));
      setPassword("");
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="login" id="main">
      <form className="login-card" onSubmit={submit} aria-labelledby="login-title" data-testid="login-form">
        <p className="brand brand-large" aria-hidden="true">
          CRISP
        </p>
        <h1 id="login-title">Sign in</h1>
        <p className="muted">Threat-feed ingestion: feeds, live runs and the intelligence store.</p>
        {reason && (
          <p className="notice notice-warning" role="status">
            {reason}
          </p>
        )}
        <label htmlFor={userId} className="field-label">
          Username
        </label>
        <input id={userId} ref={first} name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} />
        <label htmlFor={passId} className="field-label">
          Password
        </label>
        <input id={passId} name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        {error && (
          <p className="notice notice-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <p className="muted small">
          Accounts are the server's Django users; <code>make run</code> prints the first administrator's login. Scripts
          use tokens instead: see the <a href="/api/docs/">API documentation</a>.
        </p>
      </form>
    </main>
  );
}
