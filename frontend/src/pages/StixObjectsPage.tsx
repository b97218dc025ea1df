// STIX objects in the store: search by id or name, filter by type, feed and run.

import { useId } from "react";
import { api } from "../api/endpoints";
import { ExportLink } from "../components/ExportLink";
import { FeedSelect } from "../components/FeedSelect";
import { Page } from "../components/Page";
import { Pagination } from "../components/Pagination";
import { Empty, ErrorState, Loading } from "../components/States";
import { TextFilter } from "../components/TextFilter";
import { bundleExportUrl } from "../lib/exports";
import { formatTime } from "../lib/format";
import { Link } from "../lib/router";
import { useQueryState } from "../lib/useQueryState";
import { keys, useApi } from "../data/queries";

export const STIX_TYPES = [
  "indicator", "malware", "threat-actor", "intrusion-set", "campaign", "attack-pattern", "tool", "vulnerability",
  "report", "identity", "course-of-action", "infrastructure", "location", "relationship", "sighting",
  "observed-data", "note", "marking-definition", "x-mitre-tactic",
];

export function objectName(data: Record<string, unknown>): string {
  return typeof data.name === "string" ? data.name : "";
}

export function StixObjectsPage() {
  const [query, setQuery] = useQueryState();
  const typeId = useId();
  const search = query.get("search") ?? "";
  const type = query.get("type") ?? "";
  const feed = query.get("feed") ?? "";
  const run = query.get("run") ?? "";
  const page = Number(query.get("page") ?? "1") || 1;
  const result = useApi(keys.stixObjects({ search, type, feed, run, page }), (signal) => api.stixObjects({ search, type, feed, run, page }, signal), { keepPrevious: true });

  return (
    <Page title="STIX objects" intro="Every STIX 2.0/2.1 object in the store, as received, with where it came from.">
      <form className="filters" role="search" aria-label="Filter STIX objects" onSubmit={(event) => event.preventDefault()}>
        <TextFilter label="Search id or name" value={search} placeholder="e.g. APT or indicator--…" onApply={(value) => setQuery({ search: value })} />
        <div className="filter">
          <label htmlFor={typeId}>Type</label>
          <select id={typeId} value={type} onChange={(event) => setQuery({ type: event.target.value })}>
            <option value="">Any type</option>
            {STIX_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
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
        <ExportLink href={bundleExportUrl({ type, feed, run })} label="Export the objects of this type, feed and run as a STIX bundle">
          Export STIX bundle
        </ExportLink>
      </p>
      {result.data === undefined ? (
        result.loading ? <Loading what="Searching objects" /> : <ErrorState error={result.error} onRetry={result.reload} />
      ) : result.data.results.length === 0 ? (
        <Empty>No STIX object matches.</Empty>
      ) : (
        <>
          <div className="table-wrap">
            <table className="table" data-testid="objects-table">
              <thead>
                <tr>
                  <th scope="col">Type</th>
                  <th scope="col">Name / id</th>
                  <th scope="col">Spec</th>
                  <th scope="col">Modified</th>
                </tr>
              </thead>
              <tbody>
                {result.data.results.map((object) => (
                  <tr key={object.id}>
                    <td>{object.type}</td>
                    <td className="break">
                      <Link to={`/objects/${object.id}`}>{objectName(object.data) || object.stix_id}</Link>
                      {objectName(object.data) && (
                        <>
                          <br />
                          <span className="muted small mono">{object.stix_id}</span>
                        </>
                      )}
                    </td>
                    <td>{object.spec_version}</td>
                    <td>{formatTime(object.modified)}</td>
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
