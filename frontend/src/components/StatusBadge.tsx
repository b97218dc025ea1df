import type { RunStatus } from "../api/types";
import { STATUS_HELP } from "../lib/runs";

export function StatusBadge({ status }: { status: RunStatus }) {
  return (
    <span className={`badge badge-${status}`} title={STATUS_HELP[status]} data-testid="run-status">
      {status}
    </span>
  );
}
