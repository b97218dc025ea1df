// Poll one run's snapshot every `intervalMs` (null: fetch once) and hand each answer to `onRun`.

import { useEffect, useRef } from "react";
import { api } from "../api/endpoints";
import type { RunSnapshot } from "../api/types";

export function useRunPolling(
  taskId: string,
  intervalMs: number | null,
  onRun: (run: RunSnapshot) => void,
  onError: (error: unknown) => void,
): void {
  const handlers = useRef({ onRun, onError });
  handlers.current = { onRun, onError };
  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    async function poll() {
      try {
        const run = await api.run(taskId, controller.signal);
        if (!stopped) handlers.current.onRun(run);
      } catch (caught) {
        if (!stopped && !(caught instanceof DOMException && caught.name === "AbortError")) handlers.current.onError(caught);
      } finally {
        if (!stopped && intervalMs !== null) timer = setTimeout(() => void poll(), intervalMs);
      }
    }
    void poll();
    return () => {
      stopped = true;
      controller.abort();
      if (timer) clearTimeout(timer);
    };
  }, [taskId, intervalMs]);
}
