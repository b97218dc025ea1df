// Confirmation for Stop now / Cancel job: says exactly what each keeps or removes, takes a reason.

import { useId, useRef, useState, type FormEvent } from "react";
import type { CancelMode, RunSnapshot } from "../api/types";
import { formatCount } from "../lib/format";
import { Dialog } from "./Dialog";

export const CANCEL_TEXT: Record<CancelMode, { title: string; confirm: string; explain: string }> = {
  stop_now: {
    title: "Stop now — keep what was ingested",
    confirm: "Stop now",
    explain:
      "The run stops at its next checkpoint, within about a second. Everything it has already stored stays in the " +
      "intelligence store, and the feed's cursor stays just after the last fully stored page, so the next run " +
      "resumes from there instead of starting over.",
  },
  cancel_job: {
    title: "Cancel job — undo everything this run did",
    confirm: "Cancel job and roll back",
    explain:
      "The run stops at its next checkpoint and is rolled back as if it had never happened: every object and " +
      "indicator it added is removed (unless another feed or run also provides it), objects it updated get their " +
      "previous version back, and the feed's cursor is left unchanged.",
  },
};

interface CancelDialogProps {
  run: RunSnapshot;
  mode: CancelMode;
  onConfirm: (reason: string) => void;
  onClose: () => void;
  busy?: boolean;
  error?: string | null;
}

export function CancelDialog({ run, mode, onConfirm, onClose, busy = false, error = null }: CancelDialogProps) {
  const [reason, setReason] = useState("");
  const reasonId = useId();
  const textarea = useRef<HTMLTextAreaElement>(null);
  const text = CANCEL_TEXT[mode];
  const p = run.progress;

  function submit(event: FormEvent) {
    event.preventDefault();
    if (!busy) onConfirm(reason.trim());
  }

  return (
    <Dialog title={text.title} onClose={onClose} tone={mode === "cancel_job" ? "danger" : "default"} initialFocus={textarea}>
      <form onSubmit={submit} data-testid="cancel-dialog" data-mode={mode}>
        <p className="dialog-run">
          Run of <strong>{run.feed.name}</strong>
          {run.requested_by ? <> started by {run.requested_by}</> : null}.
        </p>
        <p>{text.explain}</p>
        <p className={`consequence consequence-${mode}`} data-testid="cancel-consequence">
          {mode === "stop_now"
            ? `So far: ${formatCount(p.created)} objects created and ${formatCount(p.updated)} updated — all of them are kept.`
            : `So far: ${formatCount(p.created)} objects created will be removed and ${formatCount(p.updated)} updated objects restored.`}
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
          placeholder={mode === "stop_now" ? "e.g. enough for today" : "e.g. wrong collection"}
        />
        {error && (
          <p className="notice notice-error" role="alert" data-testid="cancel-error">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" className="btn" onClick={onClose}>
            Keep running
          </button>
          <button type="submit" className={`btn ${mode === "cancel_job" ? "btn-danger" : "btn-warning"}`} disabled={busy}>
            {busy ? "Sending…" : text.confirm}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
