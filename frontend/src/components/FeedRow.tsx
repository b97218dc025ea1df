// One feed in the feeds table: source, schedule, last run, health, and what the user may do.

import type { Feed } from "../api/types";
import { formatCount, formatSchedule, formatTime } from "../lib/format";
import { feedHealth } from "../lib/health";
import { blocklistExportUrl, bundleExportUrl } from "../lib/exports";
import { isActive, SOURCE_LABEL } from "../lib/runs";
import { Link } from "../lib/router";
import { ExportLink } from "./ExportLink";
import { StatusBadge } from "./StatusBadge";

interface FeedRowProps {
  feed: Feed;
  canManage: boolean;
  starting: boolean;
  onConsume: (feed: Feed) => void;
  onEdit: (feed: Feed) => void;
  onDelete: (feed: Feed) => void;
}

export function FeedRow({ feed, canManage, starting, onConsume, onEdit, onDelete }: FeedRowProps) {
  const run = feed.last_run;
  const health = feedHealth(feed);
  const running = run !== null && isActive(run.status);
  return (
    <tr data-testid="feed-row" data-feed-id={feed.id} data-feed-name={feed.name}>
      <th scope="row">
        <span className="feed-name">{feed.name}</span>
        {feed.settings?.demo ? <span className="tag tag-demo">demo</span> : null}
        <br />
        <span className="muted small">
          {SOURCE_LABEL[feed.source_type]}
          {feed.owner ? ` · owner ${feed.owner}` : ""}
        </span>
        <br />
        <span className="muted small mono truncate" title={feed.url}>
          {feed.url}
        </span>
      </th>
      <td>{formatSchedule(feed.schedule ?? null)}</td>
      <td>
        {run ? (
          <>
            <StatusBadge status={run.status} />{" "}
            <Link to={`/runs/${run.task_id}`} className="small">
              run #{run.run_id}
            </Link>
            <br />
            <span className="muted small">
              {formatTime(run.finished_at ?? run.started_at ?? run.queued_at)} · {formatCount(run.progress.fetched)} objects
            </span>
          </>
        ) : (
          <span className="muted">never</span>
        )}
      </td>
      <td>
        <span className={`health health-${health.tone}`} title={health.detail}>
          {health.label}
        </span>
        <br />
        <span className="muted small">{health.detail}</span>
      </td>
      <td className="actions">
        {running ? (
          <Link to="/monitor" className="btn btn-small">
            Watch run
          </Link>
        ) : (
          <button
            type="button"
            className="btn btn-small btn-primary"
            disabled={starting || !feed.is_active}
            title={feed.is_active ? undefined : "Paused feeds cannot run"}
            onClick={() => onConsume(feed)}
            aria-label={`Start a run of ${feed.name}`}
          >
            {starting ? "Starting…" : "Start run"}
          </button>
        )}
        <ExportLink href={bundleExportUrl({ feed: feed.id })} label={`Export the objects of ${feed.name} as a STIX bundle`}>
          Export
        </ExportLink>
        <ExportLink href={blocklistExportUrl({ format: "txt", feed: feed.id })} label={`Download a blocklist of ${feed.name}'s indicators`}>
          Blocklist
        </ExportLink>
        {canManage && (
          <>
            <button type="button" className="btn btn-small" onClick={() => onEdit(feed)} aria-label={`Edit ${feed.name}`}>
              Edit
            </button>
            <button type="button" className="btn btn-small btn-ghost-danger" onClick={() => onDelete(feed)} aria-label={`Delete ${feed.name}`}>
              Delete
            </button>
          </>
        )}
      </td>
    </tr>
  );
}
