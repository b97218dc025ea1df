// Typed functions for every endpoint the dashboard uses (SPEC §6).

import { request, withQuery, type Query } from "./client";
import type {
  CancelMode,
  Feed,
  FeedInput,
  Indicator,
  IndicatorDetail,
  Me,
  Page,
  RunSnapshot,
  StixObject,
  StixObjectDetail,
} from "./types";

export const api = {
  me: (signal?: AbortSignal) => request<Me>("/api/auth/me/", { signal }),

  feeds: (query?: Query, signal?: AbortSignal) => request<Page<Feed>>("/api/threat-feeds/", { query, signal }),
  feed: (id: number) => request<Feed>(`/api/threat-feeds/${id}/`),
  createFeed: (body: FeedInput) => request<Feed>("/api/threat-feeds/", { method: "POST", body }),
  updateFeed: (id: number, body: FeedInput) => request<Feed>(`/api/threat-feeds/${id}/`, { method: "PATCH", body }),
  deleteFeed: (id: number) => request<void>(`/api/threat-feeds/${id}/`, { method: "DELETE" }),
  consume: (id: number) => request<RunSnapshot>(`/api/threat-feeds/${id}/consume/`, { method: "POST" }),

  runs: (query?: Query, signal?: AbortSignal) =>
    request<Page<RunSnapshot>>("/api/threat-feeds/tasks/", { query, signal }),
  run: (taskId: string, signal?: AbortSignal) =>
    request<RunSnapshot>(`/api/threat-feeds/task-status/${taskId}/`, { signal }),
  cancelRun: (taskId: string, mode: CancelMode, reason: string) =>
    request<RunSnapshot>(`/api/threat-feeds/cancel-task/${taskId}/`, { method: "POST", body: { mode, reason } }),
  undoRun: (taskId: string, reason: string) =>
    request<RunSnapshot>(`/api/threat-feeds/tasks/${taskId}/undo/`, { method: "POST", body: { reason } }),

  indicators: (query?: Query, signal?: AbortSignal) =>
    request<Page<Indicator>>("/api/indicators/", { query, signal }),
  indicator: (id: number) => request<IndicatorDetail>(`/api/indicators/${id}/`),
  stixObjects: (query?: Query, signal?: AbortSignal) =>
    request<Page<StixObject>>("/api/stix-objects/", { query, signal }),
  stixObject: (id: number) => request<StixObjectDetail>(`/api/stix-objects/${id}/`),
};

/** Every feed (the feed list is small; follows `next` so filters and forms see them all). */
export async function allFeeds(signal?: AbortSignal): Promise<Feed[]> {
  const feeds: Feed[] = [];
  let page = 1;
  for (;;) {
    const result = await api.feeds({ page }, signal);
    feeds.push(...result.results);
    if (!result.next) return feeds;
    page += 1;
  }
}

export { withQuery };
