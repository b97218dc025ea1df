// Filters kept in the URL's query string, so a filtered view can be bookmarked and shared.

import { navigate, useLocation } from "./router";

export function useQueryState(): [URLSearchParams, (changes: Record<string, string | null>) => void] {
  const { path, query } = useLocation();
  function set(changes: Record<string, string | null>) {
    const next = new URLSearchParams(query);
    for (const [key, value] of Object.entries(changes)) {
      if (value === null || value === "") next.delete(key);
      else next.set(key, value);
    }
    if (!("page" in changes)) next.delete("page"); // a new filter starts at page 1
    const text = next.toString();
    navigate(text ? `${path}?${text}` : path, { replace: true });
  }
  return [query, set];
}
