// VirusTotal (or other) enrichment of an indicator: verdict counts, reputation, tags, first/last seen.

import { formatTime } from "../lib/format";

type Json = Record<string, unknown>;

const VERDICTS = ["malicious", "suspicious", "harmless", "undetected", "timeout"] as const;

function asObject(value: unknown): Json | null {
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Json) : null;
}

function timeOf(value: unknown): string {
  if (typeof value === "number") return formatTime(new Date(value * 1000).toISOString()); // VT epoch seconds
  return typeof value === "string" ? formatTime(value) : "—";
}

/** The VirusTotal part of an enrichment, whether nested under "virustotal" or flat. */
export function virusTotalOf(enrichment: Json): Json | null {
  return asObject(enrichment.virustotal) ?? asObject(enrichment.vt) ?? (enrichment.last_analysis_stats || enrichment.stats ? enrichment : null);
}

export function verdictSummary(enrichment: Json): string | null {
  const vt = virusTotalOf(enrichment);
  const stats = vt && (asObject(vt.last_analysis_stats) ?? asObject(vt.stats));
  if (!stats) return null;
  const total = VERDICTS.reduce((sum, key) => sum + (Number(stats[key]) || 0), 0);
  return `${Number(stats.malicious) || 0}/${total} malicious`;
}

export function EnrichmentPanel({ enrichment, enrichedAt }: { enrichment: Json; enrichedAt: string | null }) {
  if (!enrichment || Object.keys(enrichment).length === 0) return null;
  const vt = virusTotalOf(enrichment);
  const stats = vt && (asObject(vt.last_analysis_stats) ?? asObject(vt.stats));
  const tags = vt && Array.isArray(vt.tags) ? (vt.tags as unknown[]).map(String) : [];
  const shown = new Set(["last_analysis_stats", "stats", "reputation", "tags", "first_seen", "last_seen",
    "first_submission_date", "last_analysis_date"]);
  const rest = Object.entries(vt ?? enrichment).filter(([key]) => !shown.has(key));

  return (
    <section className="panel" aria-labelledby="enrichment-title" data-testid="enrichment">
      <h2 id="enrichment-title">{vt ? "VirusTotal" : "Enrichment"}</h2>
      {enrichedAt && <p className="muted small">Enriched {formatTime(enrichedAt)}</p>}
      {stats && (
        <ul className="verdicts">
          {VERDICTS.filter((key) => key in stats).map((key) => (
            <li key={key} className={`verdict verdict-${key}`}>
              <strong>{String(stats[key])}</strong> {key}
            </li>
          ))}
        </ul>
      )}
      {vt && (
        <dl className="facts">
          {"reputation" in vt && (
            <>
              <dt>Reputation</dt>
              <dd>{String(vt.reputation)}</dd>
            </>
          )}
          <dt>First seen</dt>
          <dd>{timeOf(vt.first_seen ?? vt.first_submission_date)}</dd>
          <dt>Last seen</dt>
          <dd>{timeOf(vt.last_seen ?? vt.last_analysis_date)}</dd>
          {tags.length > 0 && (
            <>
              <dt>Tags</dt>
              <dd>
                {tags.map((tag) => (
                  <span key={tag} className="tag">
                    {tag}
                  </span>
                ))}
              </dd>
            </>
          )}
        </dl>
      )}
      {rest.length > 0 && (
        <details>
          <summary>Other fields</summary>
          <pre className="json">{JSON.stringify(Object.fromEntries(rest), null, 2)}</pre>
        </details>
      )}
    </section>
  );
}
