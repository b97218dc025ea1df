// A <select> of every feed, for filters.

import { useId } from "react";
import { allFeeds } from "../api/endpoints";
import { keys, useApi } from "../data/queries";

export function FeedSelect({ value, onChange }: { value: string; onChange: (value: string) => void }) {
  const id = useId();
  const feeds = useApi(keys.feeds, (signal) => allFeeds(signal));
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
