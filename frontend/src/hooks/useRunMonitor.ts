// The task monitor's data: every active run (all pages) and the runs that finished recently, from
// the query cache that the live stream keeps current (polled every POLL_MS only without a stream).

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback } from "react";
import { api } from "../api/endpoints";
import type { RunSnapshot } from "../api/types";
import { applySnapshot, fetchActiveRuns, keys, mergeRun, POLL_MS, usePollInterval } from "../data/queries";

export { mergeRun, POLL_MS };

export interface RunMonitor {
  active: RunSnapshot[];
  finished: RunSnapshot[];
  loaded: boolean;
  error: unknown;
  updatedAt: number | null;
  update: (run: RunSnapshot) => void;
}

export function useRunMonitor(recentFinished = 6): RunMonitor {
  const client = useQueryClient();
  const refetchInterval = usePollInterval(POLL_MS);
  const active = useQuery({
    queryKey: keys.runsActive,
    queryFn: ({ signal }) => fetchActiveRuns(client, signal),
    refetchInterval,
  });
  const recent = useQuery({
    queryKey: keys.runsRecent,
    queryFn: async ({ signal }) => (await api.runs({ active: false }, signal)).results.slice(0, recentFinished),
  });
  const update = useCallback((run: RunSnapshot) => void applySnapshot(client, run), [client]);
  const finished = [...(recent.data ?? [])]
    .sort((a, b) => (b.finished_at ?? "").localeCompare(a.finished_at ?? ""))
    .slice(0, Math.max(recentFinished, 10));
  return {
    active: active.data ?? [],
    finished,
    loaded: active.data !== undefined && recent.data !== undefined,
    error: active.error ?? recent.error,
    updatedAt: active.dataUpdatedAt || null,
    update,
  };
}
