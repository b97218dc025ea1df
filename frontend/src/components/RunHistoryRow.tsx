// One finished (or active) run in run history: outcome, who cancelled or undid it, why, when, latency, kept/removed.

import type { RunSnapshot } from "../api/types";
import { formatCount, formatDuration, formatTime, secondsBetween } from "../lib/format";
import { startedBy } from "../lib/runs";
import { Link } from "../lib/router";
import { CancellationSummary } from "./CancellationSummary";
import { StatusBadge } from "./StatusBadge";
import { UndoControls } from "./UndoControls";
import { UndoSummary } from "./UndoSummary";

export function RunHistoryRow({ run, onUpdated }: { run: RunSnapshot; onUpdated?: (run: RunSnapshot) => void }) {
  const p = run.progress;
  return (
    <tr data-testid="history-row" data-task-id={run.task_id} data-status={run.status}>
      <td>
        <Link to={`/runs/${run.task_id}`}>{run.feed.name}</Link>
        <br />
        <span className="muted small">run #{run.run_id}</span>
      </td>
      <td>
        <StatusBadge status={run.status} />
      </td>
      <td>{startedBy(run)}</td>
      <td>
        {formatTime(run.started_at ?? run.queued_at)}
        <br />
        <span className="muted small">{formatDuration(secondsBetween(run.started_at, run.finished_at))}</span>
      </td>
      <td className="num">
        {formatCount(p.fetched)} fetched
        <br />
        <span className="muted small">
          {formatCount(p.created)} new · {formatCount(p.updated)} updated{p.invalid ? ` · ${formatCount(p.invalid)} invalid` : ""}
        </span>
      </td>
      <td>
        {run.undo && (
          <>
            <UndoSummary run={run} compact />
            {run.cancellation || run.error ? <br /> : null}
          </>
        )}
        {run.cancellation ? (
          <CancellationSummary run={run} compact />
        ) : run.error ? (
          <span className="error-text" title={run.error.detail}>
            {run.error.code}: {run.error.detail}
          </span>
        ) : run.undo ? null : (
          <span className="muted">—</span>
        )}
        {onUpdated && <UndoControls run={run} onUpdated={onUpdated} small />}
      </td>
    </tr>
  );
}

export function RunHistoryHead() {
  return (
    <thead>
      <tr>
        <th scope="col">Feed / run</th>
        <th scope="col">Outcome</th>
        <th scope="col">Started by</th>
        <th scope="col">Started / duration</th>
        <th scope="col">Objects</th>
        <th scope="col">Cancellation, undo or error</th>
      </tr>
    </thead>
  );
}
