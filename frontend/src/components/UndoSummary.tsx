// What an undo did: who, why, when, latency, what was removed or restored, and the feed's cursor.

import type { RunSnapshot } from "../api/types";
import { formatCount, formatLatency, formatTime } from "../lib/format";
import { undoneBy } from "../lib/runs";

export function undoOutcome(run: RunSnapshot): string {
  const u = run.undo;
  if (!u) return "";
  const restored = u.objects_restored ? `, ${formatCount(u.objects_restored)} restored to their previous version` : "";
  return `${formatCount(u.objects_removed ?? 0)} objects removed${restored}`;
}

function cursorText(cursorRestored: boolean): string {
  return cursorRestored
    ? "put back to where the run started (it was the feed's latest run)"
    : "left where later runs put it";
}

export function UndoSummary({ run, compact = false }: { run: RunSnapshot; compact?: boolean }) {
  const u = run.undo;
  if (!u) return null;
  if (compact) {
    return (
      <span className="cancel-summary" data-testid="undo">
        <strong>Undone</strong> by {undoneBy(run)}
        {u.reason ? <> — “{u.reason}”</> : null}
        <br />
        <span className="muted">
          {formatTime(u.requested_at)} · latency {formatLatency(u.latency_ms)} · {undoOutcome(run)}
          {u.cursor_restored ? " · cursor put back" : ""}
        </span>
      </span>
    );
  }
  return (
    <dl className="facts" data-testid="undo">
      <dt>Undone by</dt>
      <dd data-testid="undone-by">
        {undoneBy(run)} {u.source ? <span className="muted">via {u.source}</span> : null}
      </dd>
      <dt>Reason</dt>
      <dd data-testid="undo-reason">{u.reason || <span className="muted">none given</span>}</dd>
      <dt>Requested at</dt>
      <dd>{formatTime(u.requested_at)}</dd>
      <dt>Undone at</dt>
      <dd>{formatTime(u.undone_at)}</dd>
      <dt>Latency</dt>
      <dd data-testid="undo-latency">{formatLatency(u.latency_ms)}</dd>
      <dt>Objects removed</dt>
      <dd data-testid="undo-removed">{formatCount(u.objects_removed)}</dd>
      <dt>Objects restored</dt>
      <dd data-testid="undo-restored">{formatCount(u.objects_restored)}</dd>
      <dt>Indicators removed</dt>
      <dd>{formatCount(u.indicators_removed)}</dd>
      <dt>Feed cursor</dt>
      <dd data-testid="undo-cursor-outcome">{cursorText(u.cursor_restored)}</dd>
    </dl>
  );
}
