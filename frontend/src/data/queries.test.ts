import { QueryClient } from "@tanstack/react-query";
import { afterEach, describe, expect, it, vi } from "vitest";
import { api } from "../api/endpoints";
import type { Feed, Page, RunSnapshot } from "../api/types";
import { makeRun } from "../test/fixtures";
import { applySnapshot, fetchActiveRuns, keys } from "./queries";

function page<T>(results: T[], next: string | null = null): Page<T> {
  return { count: results.length, next, previous: null, results };
}

afterEach(() => vi.restoreAllMocks());

describe("applySnapshot", () => {
  it("puts a streamed snapshot everywhere the run shows, and never goes back", () => {
    const client = new QueryClient();
    const running = makeRun({ task_id: "a", status: "running" });
    const other = makeRun({ task_id: "b", status: "running", queued_at: "2026-03-01T09:00:00Z" });
    client.setQueryData(keys.runsActive, [running, other]);
    client.setQueryData(keys.runsRecent, []);
    client.setQueryData(keys.runsList({ page: 1 }), page([running]));
    client.setQueryData<Feed[]>(keys.feeds, [{ id: 3, name: "Demo TAXII", last_run: running } as Feed]);

    const progressed = makeRun({ task_id: "a", status: "running", progress: { ...running.progress, fetched: 2000 } });
    applySnapshot(client, progressed);
    expect(client.getQueryData<RunSnapshot[]>(keys.runsActive)?.map((r) => r.progress.fetched)).toEqual([2000, 1200]);
    expect(client.getQueryData<Feed[]>(keys.feeds)?.[0].last_run?.progress.fetched).toBe(2000);

    applySnapshot(client, makeRun({ task_id: "a", status: "stopping" }));
    applySnapshot(client, makeRun({ task_id: "a", status: "running" })); // a late poll answer
    expect(client.getQueryData<RunSnapshot>(keys.run("a"))?.status).toBe("stopping");

    applySnapshot(client, makeRun({ task_id: "a", status: "stopped" }));
    expect(client.getQueryData<RunSnapshot[]>(keys.runsActive)?.map((r) => r.task_id)).toEqual(["b"]);
    expect(client.getQueryData<RunSnapshot[]>(keys.runsRecent)?.map((r) => r.status)).toEqual(["stopped"]);
    expect(client.getQueryData<Page<RunSnapshot>>(keys.runsList({ page: 1 }))?.results[0].status).toBe("stopped");
  });

  it("adds a run that starts while the monitor is open", () => {
    const client = new QueryClient();
    client.setQueryData(keys.runsActive, []);
    applySnapshot(client, makeRun({ task_id: "new", status: "queued" }));
    expect(client.getQueryData<RunSnapshot[]>(keys.runsActive)?.map((r) => r.task_id)).toEqual(["new"]);
  });
});

describe("fetchActiveRuns", () => {
  it("reads every page of active runs, not just the first", async () => {
    const client = new QueryClient();
    const first = Array.from({ length: 50 }, (_, i) => makeRun({ task_id: `r${i}` }));
    const runs = vi.spyOn(api, "runs").mockImplementation(async (query) =>
      query?.page === 2 ? page([makeRun({ task_id: "r50" })]) : page(first, "/api/threat-feeds/tasks/?active=true&page=2"),
    );
    const active = await fetchActiveRuns(client);
    expect(active).toHaveLength(51);
    expect(runs).toHaveBeenCalledTimes(2);
  });

  it("fetches the final snapshot of a run that left the active list", async () => {
    const client = new QueryClient();
    client.setQueryData(keys.runsActive, [makeRun({ task_id: "gone" })]);
    client.setQueryData(keys.runsRecent, []);
    vi.spyOn(api, "runs").mockResolvedValue(page([]));
    vi.spyOn(api, "run").mockResolvedValue(makeRun({ task_id: "gone", status: "completed" }));
    expect(await fetchActiveRuns(client)).toEqual([]);
    expect(client.getQueryData<RunSnapshot[]>(keys.runsRecent)?.[0].status).toBe("completed");
  });
});
