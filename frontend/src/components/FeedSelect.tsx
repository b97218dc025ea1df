// A <select> of every feed, for filters.

import { useId } from "react";
import { allFeeds } from "../api/endpoints";
import { usePolling } from "../lib/usePolling";

export function FeedSelect({ value, onChange }: { value: string; onChange: (value: string) => void }) {
  const id = useId();
  const feeds = usePolling((signal) => allFeeds(signal), [], null);
  return (
    <div className="filter">
      <label htmlFor={id}>Feed</label>
      <select id={id} value={value} onChange={(event) => onChange(event.target.value)}>
        <option value="">All feeds</option>
        {(feeds.data ?? []).map((feed) => (
          <option key={feed.id} value={String(feed.id)}>
            {feed.name}
          </option>
        ))}
      </select>
    </div>
  );
}
