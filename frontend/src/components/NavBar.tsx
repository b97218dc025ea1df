// Top navigation: the pages, who is signed in, and sign out.

import type { Me } from "../api/types";
import { Link, useLocation } from "../lib/router";

const LINKS = [
  { to: "/feeds", label: "Feeds" },
  { to: "/monitor", label: "Task monitor" },
  { to: "/runs", label: "Run history" },
  { to: "/indicators", label: "Indicators" },
  { to: "/objects", label: "STIX objects" },
];

export function NavBar({ me, onLogout }: { me: Me; onLogout: () => void }) {
  const { path } = useLocation();
  const current = (to: string) => path === to || path.startsWith(`${to}/`) || (to === "/feeds" && path === "/");
  return (
    <header className="topbar">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <Link to="/feeds" className="brand" aria-label="CRISP home">
        CRISP
      </Link>
      <nav aria-label="Main">
        <ul className="nav">
          {LINKS.map((link) => (
            <li key={link.to}>
              <Link to={link.to} aria-current={current(link.to) ? "page" : undefined} className="nav-link">
                {link.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <div className="whoami">
        <span data-testid="whoami">
          {me.username}
          {me.is_staff ? <span className="tag">staff</span> : null}
        </span>
        <button type="button" className="btn btn-small btn-on-dark" onClick={onLogout}>
          Sign out
        </button>
      </div>
    </header>
  );
}
