// Who is logged in, available to every page (from GET /api/auth/me/).

import { createContext, useContext } from "react";
import type { Feed, Me } from "../api/types";

export interface Session {
  me: Me;
  logout: () => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a logged-in app");
  return session;
}

/** Whether the user may edit or delete the feed (the API enforces the same rule). */
export function canManageFeed(me: Me, feed: Feed): boolean {
  return me.is_staff || (feed.owner !== null && feed.owner === me.username);
}
