// Tell the user, once, when someone else stopped or cancelled a run they started.

import { useQuery } from "@tanstack/react-query";
import { useCallback, useContext, useEffect } from "react";
import { api } from "../api/endpoints";
import type { Me, RunSnapshot } from "../api/types";
import { useToasts } from "../components/Toasts";
import { LiveContext } from "../data/liveContext";
import { keys, usePollInterval } from "../data/queries";
import { cancelledBy, MODE_LABEL } from "../lib/runs";

const CHECK_MS = 3000;
const RECENT_MS = 24 * 3600 * 1000;

function storageKey(me: Me): string {
  return `crisp.cancel-notices.${me.username}`;
}

function seen(me: Me): Set<string> {
  try {
    return new Set(JSON.parse(localStorage.getItem(storageKey(me)) ?? "[]") as string[]);
  } catch {
    return new Set();
  }
}

function remember(me: Me, ids: Set<string>): void {
  try {
    localStorage.setItem(storageKey(me), JSON.stringify([...ids].slice(-200)));
  } catch {
    // private mode or full storage: notices may repeat after a reload, nothing worse
  }
}

/** Runs `me` started that another person (or the CLI) cancelled recently. */
export function cancelledByOthers(me: Me, runs: RunSnapshot[], now = Date.now()): RunSnapshot[] {
  return runs.filter((run) => {
    const c = run.cancellation;
    if (!c || run.requested_by !== me.username || c.requested_by === me.username) return false;
    return !c.requested_at || now - new Date(c.requested_at).getTime() < RECENT_MS;
  });
}

export function notice(run: RunSnapshot): string {
  const c = run.cancellation!;
  const verb = c.mode === "stop_now" ? "stopped" : "cancelled (rolled back)";
  const reason = c.reason ? ` Reason: “${c.reason}”.` : "";
  return `Your run #${run.run_id} of “${run.feed.name}” was ${verb} by ${cancelledBy(run)} (${MODE_LABEL[c.mode]}).${reason}`;
}

export function useForeignCancelNotices(me: Me): void {
  const toasts = useToasts();
  const live = useContext(LiveContext);
  const refetchInterval = usePollInterval(CHECK_MS);
  // My recent runs once (and polled only without the stream); then every streamed snapshot.
  const mine = useQuery({
    queryKey: keys.runsOf(me.username),
    queryFn: ({ signal }) => api.runs({ user: me.username }, signal),
    refetchInterval,
  });

  const tell = useCallback(
    (runs: RunSnapshot[]) => {
      const candidates = cancelledByOthers(me, runs);
      if (candidates.length === 0) return;
      const known = seen(me);
      for (const run of candidates) {
        if (known.has(run.task_id)) continue;
        known.add(run.task_id);
        toasts.push({ tone: "warning", text: notice(run), link: { to: `/runs/${run.task_id}`, label: "See the run" }, timeout: null });
      }
      remember(me, known);
    },
    [me, toasts],
  );

  useEffect(() => {
    if (mine.data) tell(mine.data.results);
  }, [mine.data, tell]);
  useEffect(() => live.subscribe((run) => tell([run])), [live, tell]);
}
