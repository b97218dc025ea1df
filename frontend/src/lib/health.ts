// A feed's health in one word and one sentence, from its last run.

import type { Feed } from "../api/types";
import { cancelledBy, undoneBy } from "./runs";

export interface Health {
  tone: "ok" | "info" | "warn" | "bad" | "idle";
  label: string;
  detail: string;
}

export function feedHealth(feed: Feed): Health {
  const run = feed.last_run;
  if (!feed.is_active) return { tone: "idle", label: "paused", detail: "Inactive: no runs start until it is activated." };
  if (!run) return { tone: "idle", label: "never run", detail: "No run yet." };
  switch (run.status) {
    case "queued":
    case "running":
      return { tone: "info", label: "running", detail: "A run is in progress." };
    case "stopping":
    case "cancelling":
      return { tone: "info", label: run.status, detail: "A run is being stopped." };
    case "completed":
      return run.progress.invalid
        ? { tone: "warn", label: "healthy", detail: `Last run completed; ${run.progress.invalid} invalid objects skipped.` }
        : { tone: "ok", label: "healthy", detail: "Last run completed." };
    case "stopped":
    case "cancelled":
      return { tone: "ok", label: "ok", detail: `Last run ${run.status} by ${cancelledBy(run)}.` };
    case "undone":
      return { tone: "ok", label: "ok", detail: `Last run undone by ${undoneBy(run)}; its changes were removed.` };
    case "interrupted":
      return { tone: "warn", label: "interrupted", detail: "Its worker died during the last run; the next run resumes." };
    case "failed":
      return { tone: "bad", label: "failing", detail: run.error ? run.error.detail : "The last run failed." };
  }
}
