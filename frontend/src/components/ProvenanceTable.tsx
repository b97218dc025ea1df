// Which feeds and runs provided an object or indicator.

import type { ProvenanceLink } from "../api/types";
import { formatTime } from "../lib/format";
import { Link } from "../lib/router";
import { Empty } from "./States";

export function ProvenanceTable({ links }: { links: ProvenanceLink[] }) {
  if (links.length === 0) return <Empty>No provenance recorded.</Empty>;
  const showStix = links.some((link) => link.stix_id);
  return (
    <table className="table" data-testid="provenance">
      <thead>
        <tr>
          <th scope="col">Feed</th>
          <th scope="col">Run</th>
          <th scope="col">Seen</th>
          <th scope="col">{showStix ? "From STIX object" : "Action"}</th>
        </tr>
      </thead>
      <tbody>
        {links.map((link, index) => (
          <tr key={`${link.run.run_id}-${link.stix_id ?? ""}-${index}`}>
            <td>{link.feed.name}</td>
            <td>
              <Link to={`/runs/${link.run.task_id}`}>run #{link.run.run_id}</Link>
            </td>
            <td>{formatTime(link.seen_at)}</td>
            <td className="mono small">
              {showStix ? (
                <>
                  {link.stix_id}
                  {link.path ? <span className="muted"> ({link.path})</span> : null}
                </>
              ) : (
                link.action ?? "—"
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
