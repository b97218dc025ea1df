// A modal dialog: focus moves in on open, Tab stays inside, Esc closes, focus returns on close.

import { useEffect, useId, useRef, type KeyboardEvent, type ReactNode, type RefObject } from "react";
import { createPortal } from "react-dom";

const FOCUSABLE =
  'button:not([disabled]), [href], input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

interface DialogProps {
  title: string;
  onClose: () => void;
  children: ReactNode;
  /** The element to focus first (defaults to the first focusable one). */
  initialFocus?: RefObject<HTMLElement | null>;
  tone?: "default" | "danger";
  wide?: boolean;
}

export function Dialog({ title, onClose, children, initialFocus, tone = "default", wide = false }: DialogProps) {
  const titleId = useId();
  const panel = useRef<HTMLDivElement>(null);
  // The latest onClose for the key handler, without re-running the open/close effect below.
  const onCloseRef = useRef(onClose);
  useEffect(() => {
    onCloseRef.current = onClose;
  }, [onClose]);

  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    // Where focus goes back if the opener is gone by then (e.g. "Stop now" once the run is stopping).
    const fallback = opener?.closest<HTMLElement>("[data-focus-return]") ?? null;
    // The page behind is inert while the dialog is open: no focus, no clicks, hidden from screen readers.
    const app = document.getElementById("root");
    app?.setAttribute("inert", "");
    const first = initialFocus?.current ?? panel.current?.querySelector<HTMLElement>(FOCUSABLE);
    (first ?? panel.current)?.focus();
    return () => {
      app?.removeAttribute("inert");
      if (opener && document.contains(opener)) opener.focus();
      else if (fallback && document.contains(fallback)) fallback.focus();
    };
  }, [initialFocus]); // a ref object: stable, so this runs once per opening

  function onKeyDown(event: KeyboardEvent<HTMLDivElement>) {
    if (event.key === "Escape") {
      event.stopPropagation();
      onCloseRef.current();
      return;
    }
    if (event.key !== "Tab" || !panel.current) return;
    const items = Array.from(panel.current.querySelectorAll<HTMLElement>(FOCUSABLE));
    if (items.length === 0) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  }

  return createPortal(
    <div className="dialog-backdrop" onMouseDown={(event) => event.target === event.currentTarget && onClose()}>
      <div
        ref={panel}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        className={`dialog dialog-${tone}${wide ? " dialog-wide" : ""}`}
        tabIndex={-1}
        onKeyDown={onKeyDown}
      >
        <h2 id={titleId} className="dialog-title">
          {title}
        </h2>
        {children}
      </div>
    </div>,
    document.body,
  );
}
