// A run's history besides its counters: which workers ran it, hand-backs, operator actions, resumptions.

import type { RunEvent, RunSnapshot } from "../api/types";
import { formatTime } from "../lib/format";
import { Link } from "../lib/router";

/** The event's details in words: which worker, why, which signal. */
export function describeEvent(entry: RunEvent): string {
  const parts: string[] = [];
  if (entry.worker) parts.push(`on ${String(entry.worker)}`);
  if (entry.from_worker) parts.push(`from ${String(entry.from_worker)}`);
  if (entry.reason) parts.push(String(entry.reason).replaceAll("_", " "));
  if (entry.signal) parts.push(String(entry.signal));
  if (entry.by_run) parts.push(`by run ${String(entry.by_run).slice(0, 8)}`);
  return parts.join(" · ");
}

export function RunEvents({ run }: { run: RunSnapshot }) {
  if (!run.events?.length && !run.resumed_from) return null;
  return (
    <section className="panel" aria-labelledby="events-title">
      <h2 id="events-title">History</h2>
      {run.resumed_from && (
        <p className="muted">
          Resumes interrupted run <Link to={`/runs/${run.resumed_from}`}>{run.resumed_from.slice(0, 8)}</Link>.
        </p>
      )}
      <ol className="small" data-testid="run-events">
        {(run.events ?? []).map((entry, index) => (
          <li key={index}>
            <time dateTime={entry.at}>{formatTime(entry.at)}</time> <strong>{entry.event}</strong>{" "}
            <span className="muted">{describeEvent(entry)}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
