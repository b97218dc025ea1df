// One run in full: progress (live while active), cancel buttons, the cancellation record, undo, errors.

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../api/endpoints";
import type { RunSnapshot } from "../api/types";
import { CancelControls } from "../components/CancelControls";
import { CancellationSummary, cancellationOutcome } from "../components/CancellationSummary";
import { ExportLink } from "../components/ExportLink";
import { Page } from "../components/Page";
import { ProgressDisplay } from "../components/ProgressDisplay";
import { RunEvents } from "../components/RunEvents";
import { ErrorState, Loading, StaleNotice } from "../components/States";
import { StatusBadge } from "../components/StatusBadge";
import { UndoControls } from "../components/UndoControls";
import { UndoSummary, undoOutcome } from "../components/UndoSummary";
import { applySnapshot, keys, mergeRun, POLL_MS, usePollInterval } from "../data/queries";
import { blocklistExportUrl, bundleExportUrl } from "../lib/exports";
import { formatDuration, formatTime, secondsBetween } from "../lib/format";
import { isActive, SOURCE_LABEL, startedBy, STATUS_HELP, UNDOABLE_STATUSES } from "../lib/runs";
import { Link } from "../lib/router";

export function RunDetailPage({ taskId }: { taskId: string }) {
  const client = useQueryClient();
  const poll = usePollInterval(POLL_MS);
  const query = useQuery({
    queryKey: keys.run(taskId),
    queryFn: async ({ signal }) => mergeRun(client.getQueryData<RunSnapshot>(keys.run(taskId)), await api.run(taskId, signal)),
    refetchInterval: (q) => (q.state.data && !isActive(q.state.data.status) ? false : poll),
  });
  const latest = query.data;
  const error = query.error;
  const updatedAt = query.dataUpdatedAt || null;

  const run = latest?.task_id === taskId ? latest : undefined;
  if (!run) {
    return (
      <Page title="Run">
        {error ? <ErrorState error={error} /> : <Loading what="Loading the run" />}
      </Page>
    );
  }
  const c = run.cancellation;
  const update = (next: RunSnapshot) => void applySnapshot(client, next);
  return (
    <Page title={`Run #${run.run_id} of ${run.feed.name}`}>
      {Boolean(error) && <StaleNotice error={error} updatedAt={updatedAt} />}
      <div className="run-detail" data-testid="run-detail" data-status={run.status}>
        <p className="run-detail-status" aria-live="polite">
          <StatusBadge status={run.status} /> <span>{STATUS_HELP[run.status]}</span>
          {run.undo ? (
            <strong data-testid="run-outcome"> — {undoOutcome(run)}</strong>
          ) : c && !isActive(run.status) ? (
            <strong data-testid="run-outcome"> — {cancellationOutcome(run)}</strong>
          ) : null}
        </p>
        <section className="panel" aria-labelledby="progress-title" tabIndex={-1} data-focus-return>
          <h2 id="progress-title">Progress</h2>
          <ProgressDisplay run={run} />
          <CancelControls run={run} onUpdated={update} />
          <p className="actions">
            <ExportLink href={bundleExportUrl({ run: run.run_id })} label={`Export the objects of run ${run.run_id} as a STIX bundle`}>
              Export STIX bundle
            </ExportLink>
            <ExportLink href={blocklistExportUrl({ format: "csv", run: run.run_id })} label={`Download the indicators of run ${run.run_id} as CSV`}>
              Indicators (CSV)
            </ExportLink>
          </p>
        </section>
        <div className="columns">
          <section className="panel" aria-labelledby="summary-title">
            <h2 id="summary-title">Run</h2>
            <dl className="facts">
              <dt>Feed</dt>
              <dd>
                {run.feed.name} <span className="muted">({SOURCE_LABEL[run.feed.source_type]})</span>
              </dd>
              <dt>Started by</dt>
              <dd>{startedBy(run)}</dd>
              <dt>Queued</dt>
              <dd>{formatTime(run.queued_at)}</dd>
              <dt>Started</dt>
              <dd>{formatTime(run.started_at)}</dd>
              <dt>Finished</dt>
              <dd>{formatTime(run.finished_at)}</dd>
              <dt>Duration</dt>
              <dd>{formatDuration(secondsBetween(run.started_at, run.finished_at))}</dd>
              <dt>Last heartbeat</dt>
              <dd>{formatTime(run.heartbeat_at)}</dd>
              <dt>Task id</dt>
              <dd className="mono small">{run.task_id}</dd>
            </dl>
            <p className="links">
              <Link to={`/indicators?run=${run.run_id}`}>Indicators from this run</Link> ·{" "}
              <Link to={`/objects?run=${run.run_id}`}>STIX objects from this run</Link> ·{" "}
              <Link to={`/runs?feed=${run.feed.id}`}>Other runs of this feed</Link>
            </p>
          </section>
          <section className="panel" aria-labelledby="cancel-title">
            <h2 id="cancel-title">Cancellation</h2>
            {c ? <CancellationSummary run={run} /> : <p className="muted">This run was not stopped or cancelled.</p>}
          </section>
        </div>
        {!isActive(run.status) && (
          <section className="panel" aria-labelledby="undo-title" tabIndex={-1} data-focus-return>
            <h2 id="undo-title">Undo</h2>
            {run.undo ? (
              <UndoSummary run={run} />
            ) : run.status === "cancelled" ? (
              <p className="muted">This run was cancelled with Cancel job: its changes were already rolled back.</p>
            ) : run.can_undo ? (
              <p className="muted">Remove everything this run wrote, as if it had never happened.</p>
            ) : UNDOABLE_STATUSES.includes(run.status) ? (
              <p className="muted">Only the person who started this run, the feed's owner or staff may undo it.</p>
            ) : null}
            <UndoControls run={run} onUpdated={update} />
          </section>
        )}
        {run.error && (
          <section className="panel" aria-labelledby="error-title">
            <h2 id="error-title">Error</h2>
            <p className="notice notice-error">
              <strong>{run.error.code}</strong>: {run.error.detail}
            </p>
          </section>
        )}
        {run.invalid_samples && run.invalid_samples.length > 0 && (
          <section className="panel" aria-labelledby="invalid-title">
            <h2 id="invalid-title">Invalid objects (first {run.invalid_samples.length})</h2>
            <ul className="mono small">
              {run.invalid_samples.map((sample, index) => (
                <li key={index}>{sample}</li>
              ))}
            </ul>
          </section>
        )}
        <RunEvents run={run} />
        <details className="panel">
          <summary>Feed cursor before and after</summary>
          <pre className="json">{JSON.stringify({ before: run.cursor_before ?? {}, after: run.cursor_after ?? {} }, null, 2)}</pre>
        </details>
      </div>
    </Page>
  );
}

