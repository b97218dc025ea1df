// The one data layer: TanStack Query caches every API answer under the keys below, polls only where
// the live stream is unavailable, and the stream (live.tsx) writes run snapshots straight into it.

import { QueryClient, keepPreviousData, useQuery, type QueryKey } from "@tanstack/react-query";
import { useContext } from "react";
import type { Query } from "../api/client";
import { api } from "../api/endpoints";
import type { Feed, Page, RunSnapshot, RunStatus } from "../api/types";
import { isActive } from "../lib/runs";
import { LiveContext } from "./liveContext";

export const POLL_MS = 750; // SPEC §8: updates within a second, when there is no stream

export const keys = {
  feeds: ["feeds"] as const,
  runsActive: ["runs", "active"] as const,
  runsRecent: ["runs", "recent"] as const,
  runsList: (query: Query) => ["runs", "list", query] as const,
  runsOf: (username: string) => ["runs", "of", username] as const,
  run: (taskId: string) => ["run", taskId] as const,
  indicators: (query: Query) => ["indicators", query] as const,
  indicator: (id: number) => ["indicator", id] as const,
  stixObjects: (query: Query) => ["stix-objects", query] as const,
  stixObject: (id: number) => ["stix-object", id] as const,
};

export function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      // Keep the last good answer while a refresh fails: an outage shows as "connection lost".
      queries: { retry: 1, refetchOnWindowFocus: false, staleTime: 500 },
    },
  });
}

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

function byQueuedDesc(a: RunSnapshot, b: RunSnapshot): number {
  return (b.queued_at ?? "").localeCompare(a.queued_at ?? "");
}

/**
 * Put one run snapshot (from the stream, a poll or a cancel/undo answer) everywhere it shows:
 * the run's own entry, the active list, the recently finished list, run history pages and the
 * feed's last run. A status change also refreshes the run lists (a run may enter or leave them).
 */
export function applySnapshot(client: QueryClient, incoming: RunSnapshot): RunSnapshot {
  const previous = client.getQueryData<RunSnapshot>(keys.run(incoming.task_id));
  const run = mergeRun(previous, incoming);
  client.setQueryData(keys.run(run.task_id), run);
  client.setQueryData<RunSnapshot[]>(keys.runsActive, (list) => {
    if (!list) return list;
    const rest = list.filter((other) => other.task_id !== run.task_id);
    return isActive(run.status) ? [...rest, run].sort(byQueuedDesc) : rest;
  });
  if (!isActive(run.status)) {
    client.setQueryData<RunSnapshot[]>(keys.runsRecent, (list) =>
      list ? [run, ...list.filter((other) => other.task_id !== run.task_id)] : list,
    );
  }
  client.setQueriesData<Page<RunSnapshot>>({ queryKey: ["runs", "list"] }, (page) =>
    page ? { ...page, results: page.results.map((other) => (other.task_id === run.task_id ? run : other)) } : page,
  );
  client.setQueryData<Feed[]>(keys.feeds, (feeds) =>
    feeds?.map((feed) =>
      feed.id === run.feed.id && (!feed.last_run || feed.last_run.task_id === run.task_id || byQueuedDesc(run, feed.last_run) <= 0)
        ? { ...feed, last_run: run }
        : feed,
    ),
  );
  if (previous && previous.status !== run.status) {
    void client.invalidateQueries({ queryKey: ["runs", "list"] });
    void client.invalidateQueries({ queryKey: ["runs", "of"] });
  }
  return run;
}

/** Every page of a paginated list (follows `next`). */
export async function allPages<T>(load: (page: number) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  for (let page = 1; ; page += 1) {
    const result = await load(page);
    items.push(...result.results);
    if (!result.next) return items;
  }
}

/**
 * Every active run (all pages, not just the first). Runs that were active and are gone from the
 * answer have finished: their final snapshot is fetched so the monitor shows how they ended.
 */
export async function fetchActiveRuns(client: QueryClient, signal?: AbortSignal): Promise<RunSnapshot[]> {
  const before = client.getQueryData<RunSnapshot[]>(keys.runsActive) ?? [];
  const runs = await allPages((page) => api.runs({ active: true, page }, signal));
  const seen = new Set(runs.map((run) => run.task_id));
  const finals = await Promise.all(
    before.filter((run) => !seen.has(run.task_id)).map((run) => api.run(run.task_id, signal).catch(() => null)),
  );
  for (const run of finals) if (run) applySnapshot(client, run);
  return runs.map((run) => mergeRun(client.getQueryData<RunSnapshot>(keys.run(run.task_id)), run)).sort(byQueuedDesc);
}

/** The polling interval to use: none while the live stream delivers runs. */
export function usePollInterval(ms: number | null): number | false {
  const live = useContext(LiveContext);
  return live.streaming || ms === null ? false : ms;
}

/** What the pages read: the data, the error of the last attempt, first load, last success, reload. */
export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  updatedAt: number | null;
  reload: () => void;
}

export function useApi<T>(
  queryKey: QueryKey,
  load: (signal: AbortSignal) => Promise<T>,
  options: { pollMs?: number | null; keepPrevious?: boolean; livePoll?: boolean } = {},
): Loaded<T> {
  const streamInterval = usePollInterval(options.pollMs ?? null);
  const refetchInterval = options.livePoll === false ? (options.pollMs ?? false) : streamInterval;
  const query = useQuery({
    queryKey,
    queryFn: ({ signal }) => load(signal),
    refetchInterval,
    placeholderData: options.keepPrevious ? keepPreviousData : undefined,
  });
  return {
    data: query.data,
    error: query.error,
    loading: query.isPending,
    updatedAt: query.dataUpdatedAt || null,
    reload: () => void query.refetch(),
  };
}
