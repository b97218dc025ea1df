// Notifications in a polite live region; each can be dismissed with its own button.

import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from "react";
import { Link } from "../lib/router";

export interface Toast {
  id: number;
  tone: "info" | "success" | "warning" | "error";
  text: string;
  link?: { to: string; label: string };
  /** Milliseconds before it goes by itself; null keeps it until dismissed. */
  timeout?: number | null;
}

interface ToastApi {
  push: (toast: Omit<Toast, "id">) => void;
}

const ToastContext = createContext<ToastApi>({ push: () => undefined });

export function useToasts(): ToastApi {
  return useContext(ToastContext);
}

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const nextId = useRef(1);

  const dismiss = useCallback((id: number) => setToasts((list) => list.filter((t) => t.id !== id)), []);
  const push = useCallback(
    (toast: Omit<Toast, "id">) => {
      const id = nextId.current++;
      setToasts((list) => [...list.slice(-4), { ...toast, id }]);
      const timeout = toast.timeout === undefined ? 6000 : toast.timeout;
      if (timeout !== null) setTimeout(() => dismiss(id), timeout);
    },
    [dismiss],
  );
  const value = useMemo(() => ({ push }), [push]);

  return (
    <ToastContext.Provider value={value}>
      {children}
      <div className="toasts" aria-live="polite" aria-relevant="additions">
        {toasts.map((toast) => (
          <div key={toast.id} className={`toast toast-${toast.tone}`} role={toast.tone === "error" ? "alert" : "status"} data-testid="toast">
            <div className="toast-body">
              <span>{toast.text}</span>
              {toast.link && (
                <Link to={toast.link.to} className="toast-link" onClick={() => dismiss(toast.id)}>
                  {toast.link.label}
                </Link>
              )}
            </div>
            <button type="button" className="toast-close" aria-label="Dismiss notification" onClick={() => dismiss(toast.id)}>
              ×
            </button>
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}
