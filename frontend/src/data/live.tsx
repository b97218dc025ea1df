// The dashboard's ONE EventSource on GET /api/threat-feeds/tasks/stream/ (session cookie): each
// `data:` line is a run snapshot written into the query cache (applySnapshot). While it is open,
// nothing polls; when it is not (server without the stream, Redis down, network lost) the queries
// poll (usePollInterval) and the stream is tried again after a while.

import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { api } from "../api/endpoints";
import type { RunSnapshot } from "../api/types";
import { LiveContext, type LiveState, type SnapshotListener } from "./liveContext";
import { applySnapshot } from "./queries";

export const STREAM_URL = "/api/threat-feeds/tasks/stream/";
export const RECONNECT_MS = 15_000;

export function LiveRunsProvider({ children, url = STREAM_URL }: { children: ReactNode; url?: string }) {
  const client = useQueryClient();
  const [streaming, setStreaming] = useState(false);
  const listeners = useRef(new Set<SnapshotListener>());

  useEffect(() => {
    if (typeof EventSource === "undefined") return; // stays on polling
    let source: EventSource | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let closed = false;
    function connect() {
      source = new EventSource(url, { withCredentials: true });
      source.onopen = () => {
        setStreaming(true);
        // Whatever changed while we were not listening: the lists are fetched once more.
        void client.invalidateQueries({ queryKey: ["runs"] });
        void client.invalidateQueries({ queryKey: ["feeds"] });
      };
      source.onmessage = (event: MessageEvent<string>) => {
        let run: RunSnapshot;
        try {
          run = JSON.parse(event.data) as RunSnapshot;
        } catch {
          return;
        }
        const merged = applySnapshot(client, run);
        listeners.current.forEach((listener) => listener(merged));
      };
      source.onerror = () => {
        setStreaming(false); // the browser reconnects by itself unless the server refused the stream
        // Refused because the session ended? One request tells (a 401 takes the app to the login page).
        void api.me().catch(() => undefined);
        if (source?.readyState === EventSource.CLOSED && !closed) {
          source.close();
          retry = setTimeout(connect, RECONNECT_MS);
        }
      };
    }
    connect();
    return () => {
      closed = true;
      if (retry) clearTimeout(retry);
      source?.close();
      setStreaming(false);
    };
  }, [client, url]);

  const value = useMemo<LiveState>(
    () => ({
      streaming,
      subscribe: (listener) => {
        listeners.current.add(listener);
        return () => listeners.current.delete(listener);
      },
    }),
    [streaming],
  );
  return <LiveContext.Provider value={value}>{children}</LiveContext.Provider>;
}
