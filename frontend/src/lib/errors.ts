// API failures explained in words a person can act on (403, 409, 429 and the rest).

import { ApiError } from "../api/client";

export type ErrorContext = "cancel" | "undo" | "consume" | "delete" | "save" | "load";

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

const FORBIDDEN: Record<ErrorContext, string> = {
  cancel:
    "You may not stop or cancel this run: only the person who started it, the feed's owner or staff can. Ask one of them.",
  undo: "You may not undo this run: only the person who started it, the feed's owner or staff can. Ask one of them.",
  consume: "You may not start a run of this feed.",
  delete: "Only the feed's owner or staff may delete this feed.",
  save: "Only the feed's owner or staff may change this feed.",
  load: "You do not have permission to see this.",
};

function explainConflict(error: ApiError, context: ErrorContext): string {
  const status = typeof error.body.status === "string" ? error.body.status : null;
  switch (error.code) {
    case "run_finished":
      return `The run had already finished${status ? ` (${status})` : ""} before your request arrived, so there was nothing left to stop. Its final state is shown.`;
    case "run_already_undone":
      return status === "cancelled"
        ? "This run was cancelled: its changes were already rolled back, so there is nothing to undo."
        : "This run has already been undone. Its undo record is shown.";
    case "run_not_finished":
      return `This run has not finished yet${status ? ` (${status})` : ""}. Stop or cancel it instead; a finished run can be undone.`;
    case "no_active_run":
      return "This feed has no active run any more: it finished before your request arrived.";
    case "run_active":
      return context === "delete"
        ? "This feed has an active run. Stop or cancel that run before deleting the feed."
        : "This feed already has an active run (only one run per feed at a time). Watch it in the task monitor, or stop it before starting another.";
    case "feed_inactive":
      return "This feed is paused (inactive). Edit it and tick “Active” before starting a run.";
    default:
      return `The request conflicts with the current state: ${error.detail}`;
  }
}

/** One sentence (or two) for any error thrown by the API client. */
export function explainError(error: unknown, context: ErrorContext = "load"): string {
  if (!(error instanceof ApiError)) {
    return error instanceof Error ? `Something went wrong in the dashboard: ${error.message}` : "Something went wrong.";
  }
  if (error.status === 0) {
    return "The CRISP server could not be reached. Check that it is running and your network connection, then try again.";
  }
  if (error.unauthenticated) return "Your session has expired. Please log in again.";
  switch (error.status) {
    case 400:
      return context === "save" ? "Some fields need fixing (see below)." : `The request was refused: ${error.detail}`;
    case 403:
      return FORBIDDEN[context];
    case 404:
      return context === "cancel" || context === "undo" ? "This run no longer exists." : "Not found: it may have been deleted.";
    case 409:
      return explainConflict(error, context);
    case 429: {
      const wait = error.retryAfter !== null ? `in ${plural(error.retryAfter, "second")}` : "in a minute";
      const what = context === "undo" ? "undo and cancel" : "cancel";
      return `Too many ${what} requests in a short time (the server limits them per user). Try again ${wait}.`;
    }
    default:
      if (error.unreachable) return "The CRISP server is unavailable right now (it may be restarting). Try again shortly.";
      if (typeof error.body.detail === "string") {
        return `The server failed to handle the request (HTTP ${error.status}): ${error.detail}`;
      }
      return `The server failed to handle the request (HTTP ${error.status}). Try again; if it keeps failing, the server log says why.`;
  }
}

/** Field errors of a 400 answer ({"errors": {"field": ["message"]}}) as field → sentence. */
export function fieldErrors(error: unknown): Record<string, string> {
  if (!(error instanceof ApiError) || error.status !== 400) return {};
  const errors = error.body.errors;
  if (!errors || typeof errors !== "object") return {};
  const out: Record<string, string> = {};
  for (const [field, messages] of Object.entries(errors as Record<string, unknown>)) {
    out[field] = Array.isArray(messages) ? messages.map(String).join(" ") : String(messages);
  }
  return out;
}
