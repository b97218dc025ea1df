// Live progress of one run: bar (or page count when the total is unknown), stage, counters, rate, ETA.

import type { RunSnapshot } from "../api/types";
import { formatCount, formatDuration, formatRate } from "../lib/format";
import { isActive, STAGE_LABEL } from "../lib/runs";

export function ProgressDisplay({ run }: { run: RunSnapshot }) {
  const p = run.progress;
  const active = isActive(run.status);
  const percent = p.percent ?? (run.status === "completed" ? 100 : null);
  const summary =
    p.total_expected !== null
      ? `${formatCount(p.fetched)} of ${formatCount(p.total_expected)} objects${percent !== null ? ` (${percent}%)` : ""}`
      : `${formatCount(p.fetched)} objects fetched in ${formatCount(p.pages)} page${p.pages === 1 ? "" : "s"}`;

  return (
    <div className="progress" data-testid="progress">
      <div className="progress-head">
        <span className="progress-summary" data-testid="progress-summary">
          {summary}
        </span>
        {active && (
          <span className="progress-stage" data-testid="progress-stage">
            {run.stage ? STAGE_LABEL[run.stage] ?? run.stage : run.status === "queued" ? "Waiting for a worker" : "Starting"}
          </span>
        )}
      </div>
      {(active || percent !== null) && (
      <div
        className={`progress-bar${percent === null && active ? " progress-bar-indeterminate" : ""}`}
        role="progressbar"
        aria-label={`Progress of ${run.feed.name}`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent ?? undefined}
        aria-valuetext={summary}
      >
        <div className="progress-fill" style={{ width: `${percent ?? 100}%` }} />
      </div>
      )}
      <dl className="counters">
        <Counter label="Pages" value={p.pages} testId="pages" />
        <Counter label="Fetched" value={p.fetched} testId="fetched" />
        <Counter label="Created" value={p.created} testId="created" />
        <Counter label="Updated" value={p.updated} testId="updated" />
        <Counter label="Unchanged" value={p.unchanged} testId="unchanged" />
        <Counter label="Invalid" value={p.invalid} testId="invalid" />
        <div className="counter">
          <dt>Rate</dt>
          <dd data-testid="rate">{formatRate(p.rate_per_second)}</dd>
        </div>
        <div className="counter">
          <dt>ETA</dt>
          <dd data-testid="eta">{active ? (p.eta_seconds !== null ? formatDuration(p.eta_seconds) : "unknown") : "—"}</dd>
        </div>
      </dl>
    </div>
  );
}

function Counter({ label, value, testId }: { label: string; value: number | undefined; testId: string }) {
  return (
    <div className="counter">
      <dt>{label}</dt>
      <dd data-testid={`count-${testId}`}>{formatCount(value)}</dd>
    </div>
  );
}
