// One run in the task monitor: who started it, status, live progress, cancel buttons, final outcome.

import type { RunSnapshot } from "../api/types";
import { formatDuration, formatTime, secondsBetween } from "../lib/format";
import { isActive, SOURCE_LABEL, startedBy, STATUS_HELP } from "../lib/runs";
import { Link } from "../lib/router";
import { CancelControls } from "./CancelControls";
import { CancellationSummary } from "./CancellationSummary";
import { ProgressDisplay } from "./ProgressDisplay";
import { StatusBadge } from "./StatusBadge";

export function RunCard({ run, onUpdated }: { run: RunSnapshot; onUpdated: (run: RunSnapshot) => void }) {
  const active = isActive(run.status);
  const elapsed = secondsBetween(run.started_at, run.finished_at);
  return (
    <article
      className={`run-card run-card-${run.status}`}
      data-testid="run-card"
      data-task-id={run.task_id}
      data-status={run.status}
      aria-label={`Run of ${run.feed.name}`}
      tabIndex={-1}
      data-focus-return
    >
      <header className="run-card-head">
        <div>
          <h3 className="run-card-title">
            <Link to={`/runs/${run.task_id}`}>{run.feed.name}</Link>{" "}
            <span className="muted">run #{run.run_id}</span>
          </h3>
          <p className="muted small">
            {SOURCE_LABEL[run.feed.source_type]} · started by {startedBy(run)} · {formatTime(run.started_at ?? run.queued_at)}
            {elapsed !== null ? ` · ${active ? "running for" : "took"} ${formatDuration(elapsed)}` : ""}
          </p>
        </div>
        <div className="run-card-status" aria-live="polite">
          <StatusBadge status={run.status} />
          <span className="muted small">{STATUS_HELP[run.status]}</span>
        </div>
      </header>
      <ProgressDisplay run={run} />
      {run.cancellation && (
        <div className="run-card-cancel">
          <CancellationSummary run={run} compact />
        </div>
      )}
      {run.error && (
        <p className="notice notice-error">
          <strong>{run.error.code}</strong>: {run.error.detail}
        </p>
      )}
      <CancelControls run={run} onUpdated={onUpdated} />
    </article>
  );
}
