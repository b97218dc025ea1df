// What a cancellation did: mode, who, why, when, latency, and what was kept, removed or restored.

import type { RunSnapshot } from "../api/types";
import { formatCount, formatLatency, formatTime } from "../lib/format";
import { cancelledBy, MODE_LABEL } from "../lib/runs";

export function cancellationOutcome(run: RunSnapshot): string {
  const c = run.cancellation;
  if (!c) return "";
  if (run.status === "stopping") return "stop requested — finishing the current batch";
  if (run.status === "cancelling") return "cancel requested — stopping and rolling back";
  if (c.mode === "cancel_job") {
    const restored = c.objects_restored ? `, ${formatCount(c.objects_restored)} restored to their previous version` : "";
    return `${formatCount(c.objects_removed ?? 0)} objects removed${restored}`;
  }
  return `${formatCount(c.objects_kept ?? 0)} objects kept`;
}

export function CancellationSummary({ run, compact = false }: { run: RunSnapshot; compact?: boolean }) {
  const c = run.cancellation;
  if (!c) return null;
  if (compact) {
    return (
      <span className="cancel-summary" data-testid="cancellation">
        <strong>{MODE_LABEL[c.mode]}</strong> by {cancelledBy(run)}
        {c.reason ? <> — “{c.reason}”</> : null}
        <br />
        <span className="muted">
          {formatTime(c.requested_at)} · latency {formatLatency(c.latency_ms)} · {cancellationOutcome(run)}
          {c.escalated ? " · escalated" : ""}
        </span>
      </span>
    );
  }
  return (
    <dl className="facts cancel-facts" data-testid="cancellation">
      <dt>Mode</dt>
      <dd>
        {MODE_LABEL[c.mode]} {c.mode === "stop_now" ? "(keep what was ingested)" : "(roll the run back)"}
      </dd>
      <dt>Requested by</dt>
      <dd data-testid="cancelled-by">
        {cancelledBy(run)} {c.source ? <span className="muted">via {c.source}</span> : null}
      </dd>
      <dt>Reason</dt>
      <dd data-testid="cancel-reason">{c.reason || <span className="muted">none given</span>}</dd>
      <dt>Requested at</dt>
      <dd>{formatTime(c.requested_at)}</dd>
      <dt>Acknowledged at</dt>
      <dd>{c.acknowledged_at ? formatTime(c.acknowledged_at) : <span className="muted">not yet</span>}</dd>
      <dt>Stop latency</dt>
      <dd data-testid="cancel-latency">
        {formatLatency(c.latency_ms)}
        {c.escalated ? " (escalated: the worker was interrupted)" : ""}
      </dd>
      <dt>Objects kept</dt>
      <dd data-testid="objects-kept">{formatCount(c.objects_kept)}</dd>
      <dt>Objects removed</dt>
      <dd data-testid="objects-removed">{formatCount(c.objects_removed)}</dd>
      <dt>Objects restored</dt>
      <dd data-testid="objects-restored">{formatCount(c.objects_restored)}</dd>
    </dl>
  );
}
