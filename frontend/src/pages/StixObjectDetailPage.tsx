// One STIX object: its fields, provenance, earlier versions, and the object as received.

import { api } from "../api/endpoints";
import { Page } from "../components/Page";
import { ProvenanceTable } from "../components/ProvenanceTable";
import { ErrorState, Loading } from "../components/States";
import { formatTime } from "../lib/format";
import { Link } from "../lib/router";
import { keys, useApi } from "../data/queries";
import { objectName } from "./StixObjectsPage";

export function StixObjectDetailPage({ id }: { id: number }) {
  const result = useApi(keys.stixObject(id), () => api.stixObject(id));
  const object = result.data;
  if (!object) {
    return (
      <Page title="STIX object">
        {result.loading ? <Loading what="Loading the object" /> : <ErrorState error={result.error} onRetry={result.reload} />}
      </Page>
    );
  }
  const description = typeof object.data.description === "string" ? object.data.description : "";
  const pattern = typeof object.data.pattern === "string" ? object.data.pattern : "";
  return (
    <Page title={`${object.type}: ${objectName(object.data) || object.stix_id}`}>
      <p>
        <Link to="/objects">← All STIX objects</Link>
      </p>
      <section className="panel">
        <dl className="facts">
          <dt>STIX id</dt>
          <dd className="mono break">{object.stix_id}</dd>
          <dt>Spec version</dt>
          <dd>{object.spec_version}</dd>
          <dt>Created / modified</dt>
          <dd>
            {formatTime(object.created)} / {formatTime(object.modified)}
          </dd>
          <dt>First seen here</dt>
          <dd>{formatTime(object.first_seen_at)}</dd>
          {pattern && (
            <>
              <dt>Pattern</dt>
              <dd className="mono break">{pattern}</dd>
            </>
          )}
          {description && (
            <>
              <dt>Description</dt>
              <dd>{description}</dd>
            </>
          )}
        </dl>
      </section>
      <section className="panel" aria-labelledby="provenance-title">
        <h2 id="provenance-title">Provenance</h2>
        <ProvenanceTable links={object.provenance_links} />
      </section>
      {object.versions.length > 0 && (
        <section className="panel" aria-labelledby="versions-title">
          <h2 id="versions-title">Version history</h2>
          <ul>
            {object.versions.map((version) => (
              <li key={version.version_key}>
                {version.modified ? `modified ${formatTime(version.modified)}` : `content ${version.version_key.slice(0, 19)}`}
                {version.current ? " (current)" : ""}; delivered by{" "}
                {version.delivered_by
                  .map((link) => `${link.feed.name} run #${link.run.run_id} (${link.action})`)
                  .join(", ") || "no run"}
              </li>
            ))}
          </ul>
        </section>
      )}
      <details className="panel">
        <summary>The object as received (JSON)</summary>
        <pre className="json">{JSON.stringify(object.data, null, 2)}</pre>
      </details>
    </Page>
  );
}
