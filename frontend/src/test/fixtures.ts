// Run snapshots for component tests, shaped like the API's.

import type { Cancellation, RunSnapshot, Undo } from "../api/types";

export function makeRun(overrides: Partial<RunSnapshot> = {}): RunSnapshot {
  return {
    task_id: "6f1c1d1e-0000-4000-8000-000000000001",
    run_id: 7,
    feed: { id: 3, name: "Demo TAXII", source_type: "taxii21" },
    status: "running",
    stage: "fetching",
    trigger: "dashboard",
    progress: {
      pages: 12,
      fetched: 1200,
      created: 1100,
      updated: 40,
      unchanged: 60,
      invalid: 0,
      errors: 0,
      total_expected: 4000,
      percent: 30,
      rate_per_second: 640.4,
      eta_seconds: 75,
    },
    invalid_samples: [],
    requested_by: "alice",
    queued_at: "2026-03-01T10:00:00Z",
    started_at: "2026-03-01T10:00:01Z",
    heartbeat_at: "2026-03-01T10:00:03Z",
    finished_at: null,
    cursor_before: {},
    cursor_after: {},
    cancellation: null,
    undo: null,
    events: [],
    requeues: 0,
    resumed_from: null,
    error: null,
    can_cancel: true,
    can_undo: false,
    ...overrides,
  };
}

export function makeCancellation(overrides: Partial<Cancellation> = {}): Cancellation {
  return {
    mode: "stop_now",
    reason: "",
    requested_by: "alice",
    source: "dashboard",
    requested_at: "2026-03-01T10:00:05Z",
    acknowledged_at: "2026-03-01T10:00:05.080Z",
    latency_ms: 80,
    objects_kept: 1100,
    objects_removed: 0,
    objects_restored: 0,
    escalated: false,
    ...overrides,
  };
}

export function makeUndo(overrides: Partial<Undo> = {}): Undo {
  return {
    reason: "",
    requested_by: "alice",
    source: "dashboard",
    requested_at: "2026-03-01T11:00:00Z",
    undone_at: "2026-03-01T11:00:00.420Z",
    latency_ms: 420,
    objects_removed: 1100,
    objects_restored: 40,
    indicators_removed: 300,
    cursor_restored: true,
    ...overrides,
  };
}
