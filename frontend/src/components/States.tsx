// Loading, empty and error states shared by every page.

import type { ReactNode } from "react";
import { explainError, type ErrorContext } from "../lib/errors";

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <p className="state state-loading" role="status">
      <span className="spinner" aria-hidden="true" /> {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state state-empty">{children}</div>;
}

export function ErrorState({
  error,
  context = "load",
  onRetry,
}: {
  error: unknown;
  context?: ErrorContext;
  onRetry?: () => void;
}) {
  return (
    <div className="state state-error" role="alert">
      <p>{explainError(error, context)}</p>
      {onRetry && (
        <button type="button" className="btn" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** Shown above data that is still displayed while refreshes fail. */
export function StaleNotice({ error, updatedAt }: { error: unknown; updatedAt: number | null }) {
  const when = updatedAt ? new Date(updatedAt).toLocaleTimeString("en-GB") : "earlier";
  return (
    <p className="notice notice-warning" role="status">
      Connection problem — {explainError(error)} Showing data from {when}; retrying automatically.
    </p>
  );
}
