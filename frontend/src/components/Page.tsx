// Page frame: the heading takes focus when the page opens, so keyboard and screen-reader users
// land on the new content after navigating.

import { useEffect, useRef, type ReactNode } from "react";

export function Page({ title, actions, children, intro }: { title: string; actions?: ReactNode; intro?: ReactNode; children: ReactNode }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · CRISP`;
    heading.current?.focus({ preventScroll: true });
  }, [title]);
  return (
    <section className="page">
      <div className="page-head">
        <div>
          <h1 ref={heading} tabIndex={-1}>
            {title}
          </h1>
          {intro && <p className="page-intro">{intro}</p>}
        </div>
        {actions && <div className="page-actions">{actions}</div>}
      </div>
      {children}
    </section>
  );
}
