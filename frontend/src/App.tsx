// The app shell: who is signed in (or the login page), navigation, and the page for the URL.

import { QueryClientProvider } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useState } from "react";
import { ApiError, onUnauthenticated } from "./api/client";
import { api } from "./api/endpoints";
import { logout } from "./api/session";
import type { Me } from "./api/types";
import { NavBar } from "./components/NavBar";
import { Page } from "./components/Page";
import { ErrorState, Loading } from "./components/States";
import { ToastProvider } from "./components/Toasts";
import { LiveRunsProvider } from "./data/live";
import { makeQueryClient } from "./data/queries";
import { useForeignCancelNotices } from "./hooks/useForeignCancelNotices";
import { FeedsPage } from "./pages/FeedsPage";
import { IndicatorDetailPage } from "./pages/IndicatorDetailPage";
import { IndicatorsPage } from "./pages/IndicatorsPage";
import { LoginPage } from "./pages/LoginPage";
import { RunDetailPage } from "./pages/RunDetailPage";
import { RunHistoryPage } from "./pages/RunHistoryPage";
import { StixObjectDetailPage } from "./pages/StixObjectDetailPage";
import { StixObjectsPage } from "./pages/StixObjectsPage";
import { TaskMonitorPage } from "./pages/TaskMonitorPage";
import { Link, matchPath, useLocation } from "./lib/router";
import { SessionContext } from "./lib/session";

type Auth =
  | { state: "checking" }
  | { state: "out"; reason: string | null }
  | { state: "in"; me: Me }
  | { state: "unreachable"; error: unknown };

export function App() {
  const [auth, setAuth] = useState<Auth>({ state: "checking" });

  const load = useCallback(() => {
    api.me().then(
      (me) => setAuth({ state: "in", me }),
      (error) =>
        setAuth(error instanceof ApiError && error.unauthenticated ? { state: "out", reason: null } : { state: "unreachable", error }),
    );
  }, []);
  const check = useCallback(() => {
    setAuth({ state: "checking" });
    load();
  }, [load]);

  useEffect(load, [load]);
  useEffect(
    () =>
      onUnauthenticated(() =>
        setAuth((current) =>
          current.state === "in" ? { state: "out", reason: "Your session has expired. Please sign in again." } : current,
        ),
      ),
    [],
  );

  const signOut = useCallback(() => {
    void logout().then(() => setAuth({ state: "out", reason: "You have signed out." }));
  }, []);

  switch (auth.state) {
    case "checking":
      return (
        <main className="login" id="main">
          <Loading what="Connecting to CRISP" />
        </main>
      );
    case "unreachable":
      return (
        <main className="login" id="main">
          <div className="login-card">
            <h1>CRISP is unreachable</h1>
            <ErrorState error={auth.error} onRetry={check} />
          </div>
        </main>
      );
    case "out":
      return <LoginPage reason={auth.reason} onLoggedIn={(me) => setAuth({ state: "in", me })} />;
    case "in":
      return (
        <ToastProvider>
          <SignedIn me={auth.me} onLogout={signOut} />
        </ToastProvider>
      );
  }
}

function SignedIn({ me, onLogout }: { me: Me; onLogout: () => void }) {
  // One cache per signed-in user (a new sign-in starts empty), one live stream for every page.
  const [queryClient] = useState(makeQueryClient);
  return (
    <QueryClientProvider client={queryClient}>
      <LiveRunsProvider>
        <Shell me={me} onLogout={onLogout} />
      </LiveRunsProvider>
    </QueryClientProvider>
  );
}

function Shell({ me, onLogout }: { me: Me; onLogout: () => void }) {
  const session = useMemo(() => ({ me, logout: onLogout }), [me, onLogout]);
  useForeignCancelNotices(me);
  return (
    <SessionContext.Provider value={session}>
      <NavBar me={me} onLogout={onLogout} />
      <main id="main" className="content">
        <Routes />
      </main>
    </SessionContext.Provider>
  );
}

function Routes() {
  const { path } = useLocation();
  let params: Record<string, string> | null;
  if (path === "/" || path === "/feeds") return <FeedsPage />;
  if (path === "/monitor") return <TaskMonitorPage />;
  if (path === "/runs") return <RunHistoryPage />;
  if ((params = matchPath("/runs/:taskId", path))) return <RunDetailPage key={params.taskId} taskId={params.taskId} />;
  if (path === "/indicators") return <IndicatorsPage />;
  if ((params = matchPath("/indicators/:id", path))) return <IndicatorDetailPage id={Number(params.id)} />;
  if (path === "/objects") return <StixObjectsPage />;
  if ((params = matchPath("/objects/:id", path))) return <StixObjectDetailPage id={Number(params.id)} />;
  return (
    <Page title="Page not found">
      <p>
        Nothing lives at <code>{path}</code>. Go to <Link to="/feeds">Feeds</Link>.
      </p>
    </Page>
  );
}
