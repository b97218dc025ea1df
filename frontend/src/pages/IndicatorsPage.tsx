// Indicators in the store: search by value, filter by kind, feed and run.

import { useId } from "react";
import { api } from "../api/endpoints";
import { verdictSummary } from "../components/EnrichmentPanel";
import { ExportLink } from "../components/ExportLink";
import { FeedSelect } from "../components/FeedSelect";
import { Page } from "../components/Page";
import { Pagination } from "../components/Pagination";
import { Empty, ErrorState, Loading } from "../components/States";
import { TextFilter } from "../components/TextFilter";
import { formatTime } from "../lib/format";
import { blocklistExportUrl } from "../lib/exports";
import { Link } from "../lib/router";
import { useQueryState } from "../lib/useQueryState";
import { keys, useApi } from "../data/queries";

export const INDICATOR_KINDS = [
  "ipv4", "ipv6", "domain", "url", "email", "md5", "sha1", "sha256", "sha512",
  "file-name", "file-path", "directory", "mutex", "registry-key", "command-line", "process-name",
];

export function IndicatorsPage() {
  const [query, setQuery] = useQueryState();
  const kindId = useId();
  const search = query.get("search") ?? "";
  const kind = query.get("kind") ?? "";
  const feed = query.get("feed") ?? "";
  const run = query.get("run") ?? "";
  const page = Number(query.get("page") ?? "1") || 1;
  const result = useApi(keys.indicators({ value_contains: search, kind, feed, run, page }), (signal) => api.indicators({ value_contains: search, kind, feed, run, page }, signal), { keepPrevious: true });

  return (
    <Page title="Indicators" intro="Observables extracted from indicator patterns, deduplicated across feeds.">
      <form className="filters" role="search" aria-label="Filter indicators" onSubmit={(event) => event.preventDefault()}>
        <TextFilter label="Value contains" value={search} placeholder="e.g. 203.0.113 or evil.example" onApply={(value) => setQuery({ search: value })} />
        <div className="filter">
          <label htmlFor={kindId}>Kind</label>
          <select id={kindId} value={kind} onChange={(event) => setQuery({ kind: event.target.value })}>
            <option value="">Any kind</option>
            {INDICATOR_KINDS.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </div>
        <FeedSelect value={feed} onChange={(value) => setQuery({ feed: value })} />
        {run && (
          <p className="filter-chip">
            Run #{run}{" "}
            <button type="button" className="btn btn-small" onClick={() => setQuery({ run: null })} aria-label="Remove the run filter">
              ×
            </button>
          </p>
        )}
      </form>
      <p className="actions">
        <ExportLink href={blocklistExportUrl({ format: "txt", kind, feed, run })} label="Download these indicators as a blocklist, one value a line">
          Blocklist (txt)
        </ExportLink>
        <ExportLink href={blocklistExportUrl({ format: "csv", kind, feed, run })} label="Download these indicators as CSV with VirusTotal verdicts">
          CSV
        </ExportLink>
      </p>
      {result.data === undefined ? (
        result.loading ? <Loading what="Searching indicators" /> : <ErrorState error={result.error} onRetry={result.reload} />
      ) : result.data.results.length === 0 ? (
        <Empty>No indicator matches.</Empty>
      ) : (
        <>
          <div className="table-wrap">
            <table className="table" data-testid="indicators-table">
              <thead>
                <tr>
                  <th scope="col">Value</th>
                  <th scope="col">Kind</th>
                  <th scope="col">First seen</th>
                  <th scope="col">VirusTotal</th>
                </tr>
              </thead>
              <tbody>
                {result.data.results.map((indicator) => (
                  <tr key={indicator.id}>
                    <td className="mono break">
                      <Link to={`/indicators/${indicator.id}`}>{indicator.value}</Link>
                    </td>
                    <td>{indicator.kind}</td>
                    <td>{formatTime(indicator.first_seen_at)}</td>
                    <td>{verdictSummary(indicator.enrichment) ?? <span className="muted">not enriched</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pagination page={page} count={result.data.count} hasNext={Boolean(result.data.next)} onPage={(p) => setQuery({ page: String(p) })} />
        </>
      )}
    </Page>
  );
}
