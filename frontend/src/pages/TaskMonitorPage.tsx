// Task monitor: every active run (anyone's, scheduled or CLI too) with live progress and cancel
// buttons, and the runs that finished recently with their outcome.

import { Page } from "../components/Page";
import { RunCard } from "../components/RunCard";
import { Empty, ErrorState, Loading, StaleNotice } from "../components/States";
import { useContext } from "react";
import { LiveContext } from "../data/liveContext";
import { useRunMonitor } from "../hooks/useRunMonitor";
import { Link } from "../lib/router";

export function TaskMonitorPage() {
  const monitor = useRunMonitor();
  const { streaming } = useContext(LiveContext);

  return (
    <Page title="Task monitor" intro="Active runs update live, whoever started them. Finished runs stay below with their outcome.">
      {!monitor.loaded ? (
        monitor.error ? <ErrorState error={monitor.error} /> : <Loading what="Loading runs" />
      ) : (
        <>
          {Boolean(monitor.error) && <StaleNotice error={monitor.error} updatedAt={monitor.updatedAt} />}
          <p className="muted small" data-testid="live-status" data-streaming={streaming ? "yes" : "no"}>
            {streaming ? "● Live: updates are pushed as they happen." : "Updating every second (live stream unavailable)."}
          </p>
          <section aria-labelledby="active-runs">
            <h2 id="active-runs">
              Active runs <span className="count">{monitor.active.length}</span>
            </h2>
            {monitor.active.length === 0 ? (
              <Empty>
                <p>No run is active right now.</p>
                <p>
                  Start one from <Link to="/feeds">Feeds</Link>; scheduled and command-line runs appear here too.
                </p>
              </Empty>
            ) : (
              <div className="run-list" data-testid="active-runs">
                {monitor.active.map((run) => (
                  <RunCard key={run.task_id} run={run} onUpdated={monitor.update} />
                ))}
              </div>
            )}
          </section>
          <section aria-labelledby="finished-runs">
            <h2 id="finished-runs">Recently finished</h2>
            {monitor.finished.length === 0 ? (
              <Empty>No finished runs yet.</Empty>
            ) : (
              <div className="run-list run-list-finished" data-testid="finished-runs">
                {monitor.finished.map((run) => (
                  <RunCard key={run.task_id} run={run} onUpdated={monitor.update} />
                ))}
              </div>
            )}
            <p>
              <Link to="/runs">Full run history →</Link>
            </p>
          </section>
        </>
      )}
    </Page>
  );
}
