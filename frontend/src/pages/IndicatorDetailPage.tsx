// One indicator: its value, VirusTotal enrichment when present, and which feeds and runs provided it.

import { api } from "../api/endpoints";
import { EnrichmentPanel } from "../components/EnrichmentPanel";
import { Page } from "../components/Page";
import { ProvenanceTable } from "../components/ProvenanceTable";
import { ErrorState, Loading } from "../components/States";
import { formatTime } from "../lib/format";
import { Link } from "../lib/router";
import { keys, useApi } from "../data/queries";

export function IndicatorDetailPage({ id }: { id: number }) {
  const result = useApi(keys.indicator(id), () => api.indicator(id));
  const indicator = result.data;
  if (!indicator) {
    return (
      <Page title="Indicator">
        {result.loading ? <Loading what="Loading the indicator" /> : <ErrorState error={result.error} onRetry={result.reload} />}
      </Page>
    );
  }
  return (
    <Page title={`${indicator.kind}: ${indicator.value}`}>
      <p>
        <Link to="/indicators">← All indicators</Link>
      </p>
      <section className="panel">
        <dl className="facts">
          <dt>Kind</dt>
          <dd>{indicator.kind}</dd>
          <dt>Value</dt>
          <dd className="mono break">{indicator.value}</dd>
          <dt>First seen</dt>
          <dd>{formatTime(indicator.first_seen_at)}</dd>
        </dl>
      </section>
      <EnrichmentPanel enrichment={indicator.enrichment} enrichedAt={indicator.enriched_at} />
      <section className="panel" aria-labelledby="provenance-title">
        <h2 id="provenance-title">Provenance</h2>
        <ProvenanceTable links={indicator.provenance_links} />
      </section>
    </Page>
  );
}
