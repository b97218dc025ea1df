// Run history: every run, newest first, filtered by feed, status and user.

import { useId } from "react";
import { api } from "../api/endpoints";
import { FeedSelect } from "../components/FeedSelect";
import { Page } from "../components/Page";
import { Pagination } from "../components/Pagination";
import { RunHistoryHead, RunHistoryRow } from "../components/RunHistoryRow";
import { Empty, ErrorState, Loading, StaleNotice } from "../components/States";
import { TextFilter } from "../components/TextFilter";
import { ALL_STATUSES } from "../lib/runs";
import { useQueryState } from "../lib/useQueryState";
import { keys, useApi } from "../data/queries";

export function RunHistoryPage() {
  const [query, setQuery] = useQueryState();
  const statusId = useId();
  const feed = query.get("feed") ?? "";
  const status = query.get("status") ?? "";
  const user = query.get("user") ?? "";
  const page = Number(query.get("page") ?? "1") || 1;
  const runs = useApi(keys.runsList({ feed, status, user, page }), (signal) => api.runs({ feed, status, user, page }, signal), { pollMs: 3000, keepPrevious: true });
  const filtered = Boolean(feed || status || user);

  return (
    <Page title="Run history" intro="Every run with its outcome; cancellations and undos show who, why, when, the latency and what was kept, removed or restored.">
      <form className="filters" role="search" aria-label="Filter runs" onSubmit={(event) => event.preventDefault()}>
        <FeedSelect value={feed} onChange={(value) => setQuery({ feed: value })} />
        <div className="filter">
          <label htmlFor={statusId}>Status</label>
          <select id={statusId} value={status} onChange={(event) => setQuery({ status: event.target.value })}>
            <option value="">Any status</option>
            {ALL_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <TextFilter label="Started by (username)" value={user} onApply={(value) => setQuery({ user: value })} />
        {filtered && (
          <button type="button" className="btn btn-small" onClick={() => setQuery({ feed: null, status: null, user: null })}>
            Clear filters
          </button>
        )}
      </form>
      {runs.data === undefined ? (
        runs.loading ? <Loading what="Loading runs" /> : <ErrorState error={runs.error} onRetry={runs.reload} />
      ) : (
        <>
          {Boolean(runs.error) && <StaleNotice error={runs.error} updatedAt={runs.updatedAt} />}
          {runs.data.results.length === 0 ? (
            <Empty>{filtered ? "No run matches these filters." : "No run yet: start one from Feeds."}</Empty>
          ) : (
            <div className="table-wrap">
              <table className="table" data-testid="history-table">
                <RunHistoryHead />
                <tbody>
                  {runs.data.results.map((run) => (
                    <RunHistoryRow key={run.task_id} run={run} onUpdated={runs.reload} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <Pagination page={page} count={runs.data.count} hasNext={Boolean(runs.data.next)} onPage={(p) => setQuery({ page: String(p) })} />
        </>
      )}
    </Page>
  );
}
