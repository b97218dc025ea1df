// Download URLs of the streamed exports (SPEC §6): a STIX bundle of a selection, and blocklists.

type Params = Record<string, string | number | null | undefined>;

function withQuery(path: string, params: Params): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

export function bundleExportUrl(filters: { feed?: string | number; run?: string | number; type?: string }): string {
  return withQuery("/api/stix-objects/export/", filters);
}

export function blocklistExportUrl(filters: {
  format: "txt" | "csv";
  kind?: string;
  feed?: string | number;
  run?: string | number;
}): string {
  return withQuery("/api/indicators/export/", filters);
}
