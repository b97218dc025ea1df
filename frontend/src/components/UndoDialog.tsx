// Confirmation for "Undo run": says what will be removed and restored, and what happens to the cursor.

import { useId, useRef, useState, type FormEvent } from "react";
import type { RunSnapshot } from "../api/types";
import { formatCount } from "../lib/format";
import { Dialog } from "./Dialog";

export const UNDO_EXPLAIN =
  "Everything this run wrote is rolled back, exactly as Cancel job would have done while it ran: objects and " +
  "indicators it created are removed unless another feed or run also provides them, objects it updated get their " +
  "previous version back (unless a later run has changed them since), and its provenance links go.";

export const UNDO_CURSOR =
  "If this is the feed's latest run, the feed's cursor goes back to where this run started, so the next run reads " +
  "that range again. If a later run of this feed has moved the cursor since, it stays where that run left it.";

interface UndoDialogProps {
  run: RunSnapshot;
  onConfirm: (reason: string) => void;
  onClose: () => void;
  busy?: boolean;
  error?: string | null;
}

export function UndoDialog({ run, onConfirm, onClose, busy = false, error = null }: UndoDialogProps) {
  const [reason, setReason] = useState("");
  const reasonId = useId();
  const textarea = useRef<HTMLTextAreaElement>(null);
  const p = run.progress;

  function submit(event: FormEvent) {
    event.preventDefault();
    if (!busy) onConfirm(reason.trim());
  }

  return (
    <Dialog title="Undo run — remove what this run did" onClose={onClose} tone="danger" initialFocus={textarea}>
      <form onSubmit={submit} data-testid="undo-dialog">
        <p className="dialog-run">
          Run #{run.run_id} of <strong>{run.feed.name}</strong>
          {run.requested_by ? <> started by {run.requested_by}</> : null}, {run.status}.
        </p>
        <p>{UNDO_EXPLAIN}</p>
        <ul className="consequence consequence-cancel_job" data-testid="undo-consequence">
          <li>
            {formatCount(p.created)} objects this run created will be removed (fewer if other runs also provide them).
          </li>
          <li>{formatCount(p.updated)} objects it updated get their previous version back.</li>
          <li data-testid="undo-cursor">{UNDO_CURSOR}</li>
        </ul>
        <p className="muted small">
          The run is then marked <strong>undone</strong>, with you, the time and your reason recorded. An undo cannot
          itself be reversed.
        </p>
        <label htmlFor={reasonId} className="field-label">
          Reason <span className="muted">(optional, recorded in run history)</span>
        </label>
        <textarea
          id={reasonId}
          ref={textarea}
          value={reason}
          maxLength={2000}
          rows={2}
          onChange={(event) => setReason(event.target.value)}
          placeholder="e.g. wrong collection"
        />
        {error && (
          <p className="notice notice-error" role="alert" data-testid="undo-error">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" className="btn" onClick={onClose}>
            Keep the run
          </button>
          <button type="submit" className="btn btn-danger" disabled={busy}>
            {busy ? "Undoing…" : "Undo run"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
