// Stop now / Cancel job buttons for one run, offered only when the API says this user may cancel it.

import { useState } from "react";
import { ApiError } from "../api/client";
import { api } from "../api/endpoints";
import type { CancelMode, RunSnapshot } from "../api/types";
import { explainError } from "../lib/errors";
import { isActive } from "../lib/runs";
import { CancelDialog } from "./CancelDialog";

interface CancelControlsProps {
  run: RunSnapshot;
  /** Receives the snapshot the cancel request answered with (stopping/cancelling at once, or final). */
  onUpdated: (run: RunSnapshot) => void;
}

export function CancelControls({ run, onUpdated }: CancelControlsProps) {
  const [mode, setMode] = useState<CancelMode | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  if (!run.can_cancel || !isActive(run.status)) {
    return notice ? <p className="notice notice-info" role="status">{notice}</p> : null;
  }
  const canStop = run.status === "queued" || run.status === "running";
  const canCancelJob = run.status !== "cancelling";

  async function confirm(reason: string) {
    if (!mode) return;
    setBusy(true);
    setError(null);
    try {
      onUpdated(await api.cancelRun(run.task_id, mode, reason));
      setMode(null);
    } catch (caught) {
      const message = explainError(caught, "cancel");
      if (caught instanceof ApiError && caught.status === 409) {
        // The run ended first: close the dialog, say so, and show the final state.
        setMode(null);
        setNotice(message);
        api.run(run.task_id).then(onUpdated, () => undefined);
      } else {
        setError(message);
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="cancel-controls">
      {canStop && (
        <button type="button" className="btn btn-warning" onClick={() => { setError(null); setMode("stop_now"); }}>
          Stop now
        </button>
      )}
      {canCancelJob && (
        <button type="button" className="btn btn-danger" onClick={() => { setError(null); setMode("cancel_job"); }}>
          Cancel job
        </button>
      )}
      {notice && <p className="notice notice-info" role="status">{notice}</p>}
      {mode && (
        <CancelDialog run={run} mode={mode} busy={busy} error={error} onConfirm={confirm} onClose={() => setMode(null)} />
      )}
    </div>
  );
}
