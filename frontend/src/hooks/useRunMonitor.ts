// The task monitor's data: every active run, polled every POLL_MS, plus the runs that finished
// while the page was open (fetched once more so their final state shows), plus a few recent ones.

import { useCallback, useEffect, useRef, useState } from "react";
import { api } from "../api/endpoints";
import type { RunSnapshot, RunStatus } from "../api/types";
import { isActive } from "../lib/runs";

export const POLL_MS = 750; // SPEC §8: updates within a second

const RANK: Record<RunStatus, number> = {
  queued: 0,
  running: 1,
  stopping: 2,
  cancelling: 3,
  completed: 4,
  failed: 4,
  stopped: 4,
  cancelled: 4,
  interrupted: 4,
  undone: 5, // only ever after a finished status
};

/** Snapshots can arrive out of order (a poll sent before a cancel answers after it): never go back. */
export function mergeRun(previous: RunSnapshot | undefined, next: RunSnapshot): RunSnapshot {
  if (!previous) return next;
  return RANK[next.status] >= RANK[previous.status] ? next : previous;
}

export interface RunMonitor {
  active: RunSnapshot[];
  finished: RunSnapshot[];
  loaded: boolean;
  error: unknown;
  updatedAt: number | null;
  update: (run: RunSnapshot) => void;
}

export function useRunMonitor(recentFinished = 6): RunMonitor {
  const [runs, setRuns] = useState<Record<string, RunSnapshot>>({});
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [updatedAt, setUpdatedAt] = useState<number | null>(null);
  const runsRef = useRef(runs);
  runsRef.current = runs;

  const update = useCallback((run: RunSnapshot) => {
    setRuns((all) => ({ ...all, [run.task_id]: mergeRun(all[run.task_id], run) }));
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    let recentLoaded = false;

    async function poll() {
      const first = !recentLoaded;
      try {
        const [activePage, recentPage] = await Promise.all([
          api.runs({ active: true }, controller.signal),
          first ? api.runs({ active: false }, controller.signal) : Promise.resolve(null),
        ]);
        const seen = new Set(activePage.results.map((run) => run.task_id));
        // Runs that were active and left the list have finished: fetch their final snapshot.
        const gone = Object.values(runsRef.current).filter((run) => isActive(run.status) && !seen.has(run.task_id));
        const finals = await Promise.all(gone.map((run) => api.run(run.task_id, controller.signal).catch(() => null)));
        if (stopped) return;
        setRuns((all) => {
          const next = { ...all };
          const incoming = [...(recentPage?.results.slice(0, recentFinished) ?? []), ...activePage.results, ...finals];
          for (const run of incoming) if (run) next[run.task_id] = mergeRun(next[run.task_id], run);
          return next;
        });
        recentLoaded = true;
        setError(null);
        setUpdatedAt(Date.now());
        setLoaded(true);
      } catch (caught) {
        if (stopped || (caught instanceof DOMException && caught.name === "AbortError")) return;
        setError(caught);
      } finally {
        if (!stopped) timer = setTimeout(() => void poll(), POLL_MS);
      }
    }
    void poll();
    return () => {
      stopped = true;
      controller.abort();
      if (timer) clearTimeout(timer);
    };
  }, [recentFinished]);

  const all = Object.values(runs);
  const active = all.filter((run) => isActive(run.status)).sort((a, b) => (b.queued_at ?? "").localeCompare(a.queued_at ?? ""));
  const finished = all
    .filter((run) => !isActive(run.status))
    .sort((a, b) => (b.finished_at ?? "").localeCompare(a.finished_at ?? ""))
    .slice(0, Math.max(recentFinished, 10));
  return { active, finished, loaded, error, updatedAt, update };
}
