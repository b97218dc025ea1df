// What run statuses, stages, modes and triggers mean, in words.

import type { CancelMode, RunSnapshot, RunStage, RunStatus, SourceType, Trigger } from "../api/types";

export const ACTIVE_STATUSES: RunStatus[] = ["queued", "running", "stopping", "cancelling"];
export const ALL_STATUSES: RunStatus[] = [
  "queued",
  "running",
  "stopping",
  "cancelling",
  "completed",
  "failed",
  "stopped",
  "cancelled",
  "interrupted",
  "undone",
];

/** Finished runs whose writes are still in the store: these can be undone. */
export const UNDOABLE_STATUSES: RunStatus[] = ["completed", "failed", "stopped", "interrupted"];

export function isActive(status: RunStatus): boolean {
  return ACTIVE_STATUSES.includes(status);
}

export const STATUS_HELP: Record<RunStatus, string> = {
  queued: "waiting for a worker",
  running: "ingesting",
  stopping: "stop requested: finishing the current batch and keeping everything stored",
  cancelling: "cancel requested: stopping and rolling the run back",
  completed: "finished: the whole feed was read",
  failed: "ended with an error",
  stopped: "stopped on request; everything ingested was kept",
  cancelled: "cancelled on request; the run's changes were undone",
  interrupted: "its worker died; committed data was kept",
  undone: "undone after it finished; the run's changes were removed",
};

export const STAGE_LABEL: Record<RunStage, string> = {
  connecting: "Connecting",
  fetching: "Fetching",
  storing: "Storing",
  enriching: "Enriching",
  waiting: "Waiting (rate limit / retry)",
  rolling_back: "Rolling back",
  finalizing: "Finalizing",
};

export const MODE_LABEL: Record<CancelMode, string> = { stop_now: "Stop now", cancel_job: "Cancel job" };

export const TRIGGER_LABEL: Record<Trigger, string> = {
  api: "API",
  dashboard: "dashboard",
  schedule: "schedule",
  cli: "command line",
  resume: "automatic resume",
  celery: "Celery (operator)",
};

export const SOURCE_LABEL: Record<SourceType, string> = {
  taxii21: "TAXII 2.1",
  stix_bundle: "STIX bundle",
  otx: "AlienVault OTX",
  virustotal: "VirusTotal",
};

/** "by alice (dashboard)" / "by the schedule" / "from the command line". */
export function startedBy(run: RunSnapshot): string {
  if (run.requested_by) return `${run.requested_by} (${TRIGGER_LABEL[run.trigger] ?? run.trigger})`;
  if (run.trigger === "schedule") return "the schedule";
  if (run.trigger === "cli") return "the command line";
  return TRIGGER_LABEL[run.trigger] ?? run.trigger;
}

/** Who undid a run, in words. */
export function undoneBy(run: RunSnapshot): string {
  const u = run.undo;
  if (!u) return "";
  if (u.requested_by) return u.requested_by;
  if (u.source === "cli") return "an operator (command line)";
  return u.source ? `the ${u.source}` : "the system";
}

/** Who asked a cancellation, in words. */
export function cancelledBy(run: RunSnapshot): string {
  const c = run.cancellation;
  if (!c) return "";
  if (c.requested_by) return c.requested_by;
  if (c.source === "cli") return "an operator (command line)";
  return c.source ? `the ${c.source}` : "the system";
}
