// "Undo run" for one finished run, offered only when the API says this user may undo it.

import { useState } from "react";
import { ApiError } from "../api/client";
import { api } from "../api/endpoints";
import type { RunSnapshot } from "../api/types";
import { explainError } from "../lib/errors";
import { UndoDialog } from "./UndoDialog";

interface UndoControlsProps {
  run: RunSnapshot;
  /** Receives the snapshot the undo answered with (status `undone` and the undo record). */
  onUpdated: (run: RunSnapshot) => void;
  small?: boolean;
}

export function UndoControls({ run, onUpdated, small = false }: UndoControlsProps) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  if (!run.can_undo) {
    return notice ? <p className="notice notice-info" role="status">{notice}</p> : null;
  }

  async function confirm(reason: string) {
    setBusy(true);
    setError(null);
    try {
      onUpdated(await api.undoRun(run.task_id, reason));
      setOpen(false);
    } catch (caught) {
      const message = explainError(caught, "undo");
      if (caught instanceof ApiError && caught.status === 409) {
        // Someone else undid it first (or it is not finished): close, say so, show the current state.
        setOpen(false);
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
    <div className="cancel-controls undo-controls">
      <button
        type="button"
        className={`btn btn-danger${small ? " btn-small" : ""}`}
        aria-label={small ? `Undo run #${run.run_id} of ${run.feed.name}` : undefined}
        onClick={() => {
          setError(null);
          setOpen(true);
        }}
      >
        Undo run
      </button>
      {notice && <p className="notice notice-info" role="status">{notice}</p>}
      {open && <UndoDialog run={run} busy={busy} error={error} onConfirm={confirm} onClose={() => setOpen(false)} />}
    </div>
  );
}
