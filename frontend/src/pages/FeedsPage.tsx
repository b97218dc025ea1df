// Feeds: list with last run, schedule and health; add / edit / delete; start a run.

import { useState } from "react";
import { ApiError } from "../api/client";
import { allFeeds, api } from "../api/endpoints";
import type { Feed } from "../api/types";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { FeedForm } from "../components/FeedForm";
import { FeedRow } from "../components/FeedRow";
import { Page } from "../components/Page";
import { Empty, ErrorState, Loading, StaleNotice } from "../components/States";
import { useToasts } from "../components/Toasts";
import { explainError } from "../lib/errors";
import { canManageFeed, useSession } from "../lib/session";
import { keys, useApi } from "../data/queries";

export function FeedsPage() {
  const { me } = useSession();
  const toasts = useToasts();
  const feeds = useApi(keys.feeds, (signal) => allFeeds(signal), { pollMs: 2000 });
  const [editing, setEditing] = useState<Feed | "new" | null>(null);
  const [deleting, setDeleting] = useState<Feed | null>(null);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [starting, setStarting] = useState<number | null>(null);

  async function consume(feed: Feed) {
    setStarting(feed.id);
    try {
      const run = await api.consume(feed.id);
      toasts.push({
        tone: "success",
        text: `Run #${run.run_id} of “${feed.name}” started.`,
        link: { to: "/monitor", label: "Watch it in the task monitor" },
      });
      feeds.reload();
    } catch (error) {
      const active = error instanceof ApiError && typeof error.body.active_run === "string" ? error.body.active_run : null;
      toasts.push({
        tone: error instanceof ApiError && error.status === 409 ? "warning" : "error",
        text: explainError(error, "consume"),
        link: active ? { to: `/runs/${active}`, label: "See the active run" } : undefined,
        timeout: 10000,
      });
    } finally {
      setStarting(null);
    }
  }

  async function remove() {
    if (!deleting) return;
    setBusy(true);
    setDeleteError(null);
    try {
      await api.deleteFeed(deleting.id);
      toasts.push({ tone: "success", text: `Feed “${deleting.name}” deleted.` });
      setDeleting(null);
      feeds.reload();
    } catch (error) {
      setDeleteError(explainError(error, "delete"));
    } finally {
      setBusy(false);
    }
  }

  function saved(feed: Feed) {
    toasts.push({ tone: "success", text: `Feed “${feed.name}” ${editing === "new" ? "added" : "saved"}.` });
    setEditing(null);
    feeds.reload();
  }

  return (
    <Page
      title="Feeds"
      intro="Threat-intelligence sources, their schedule and how their last run went."
      actions={
        <button type="button" className="btn btn-primary" onClick={() => setEditing("new")}>
          Add feed
        </button>
      }
    >
      {feeds.data === undefined ? (
        feeds.loading ? <Loading what="Loading feeds" /> : <ErrorState error={feeds.error} onRetry={feeds.reload} />
      ) : (
        <>
          {Boolean(feeds.error) && <StaleNotice error={feeds.error} updatedAt={feeds.updatedAt} />}
          {feeds.data.length === 0 ? (
            <Empty>
              <p>No feeds yet.</p>
              <button type="button" className="btn btn-primary" onClick={() => setEditing("new")}>
                Add the first feed
              </button>
            </Empty>
          ) : (
            <div className="table-wrap">
              <table className="table" data-testid="feeds-table">
                <thead>
                  <tr>
                    <th scope="col">Feed</th>
                    <th scope="col">Schedule</th>
                    <th scope="col">Last run</th>
                    <th scope="col">Health</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {feeds.data.map((feed) => (
                    <FeedRow
                      key={feed.id}
                      feed={feed}
                      canManage={canManageFeed(me, feed)}
                      starting={starting === feed.id}
                      onConsume={consume}
                      onEdit={setEditing}
                      onDelete={(f) => {
                        setDeleteError(null);
                        setDeleting(f);
                      }}
                    />
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
      {editing && <FeedForm feed={editing === "new" ? undefined : editing} onSaved={saved} onClose={() => setEditing(null)} />}
      {deleting && (
        <ConfirmDialog
          title={`Delete feed “${deleting.name}”?`}
          confirmLabel="Delete feed"
          onConfirm={remove}
          onClose={() => setDeleting(null)}
          busy={busy}
          error={deleteError}
        >
          <p>
            The feed, its schedule, its run history and its provenance records are deleted. The objects and
            indicators it brought in stay in the store.
          </p>
        </ConfirmDialog>
      )}
    </Page>
  );
}
