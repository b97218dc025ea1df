// Previous / next for a paginated list, with "x–y of N".

import { formatCount } from "../lib/format";

interface PaginationProps {
  page: number;
  pageSize?: number;
  count: number;
  hasNext: boolean;
  onPage: (page: number) => void;
}

export function Pagination({ page, pageSize = 50, count, hasNext, onPage }: PaginationProps) {
  if (count === 0 || (page <= 1 && !hasNext)) return null;
  const first = (page - 1) * pageSize + 1;
  const last = Math.min(count, page * pageSize);
  return (
    <nav className="pagination" aria-label="Pages">
      <button type="button" className="btn btn-small" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        ← Previous
      </button>
      <span>
        {formatCount(first)}–{formatCount(last)} of {formatCount(count)}
      </span>
      <button type="button" className="btn btn-small" disabled={!hasNext} onClick={() => onPage(page + 1)}>
        Next →
      </button>
    </nav>
  );
}
