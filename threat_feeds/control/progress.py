"""Live progress: each run's snapshot kept in Redis and published on every change.

`publish_run` is called after each commit that changes a run (status, stage, counters, cancel or
undo records, heartbeat). It reads the run once, builds the user-independent snapshot, and hands
it to one Lua script that stores it under the run's key and publishes it on one channel — only if
it was read after the one stored (a version = the time the database was read), so two publishers
racing (the worker's store thread, the API's cancel, the reaper) can never leave an older snapshot
behind the newer one. `task-status` answers from the key and the stream relays the channel; the
database stays the record, and every reader falls back to it when Redis is down or the key is gone.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
from django.db import transaction
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from threat_feeds.choices import RunStatus
from threat_feeds.control.redis_clients import sync_client
from threat_feeds.models import FeedRun

log = logging.getLogger(__name__)
CHANNEL = "crisp:runs:snapshots"
SNAPSHOT_TTL_SECONDS = 24 * 3600
SNAPSHOT_RELATED = ("feed", "requested_by", "cancel_requested_by", "undo_requested_by", "resumed_from")
# Of the related rows only what a snapshot shows: whole rows (three users, the feed, the run it
# resumed) were 170 columns to compile and decode, half of a publish's CPU.
_SNAPSHOT_RELATED_FIELDS = ("feed__name", "feed__source_type", "feed__owner_id", "requested_by__username",
                            "cancel_requested_by__username", "undo_requested_by__username", "resumed_from__task_id")  # fmt: skip

# KEYS[1] the run's hash; ARGV: version, message, ttl, channel. Newer version wins; published only then.
_STORE_AND_PUBLISH = """
local stored = redis.call('HGET', KEYS[1], 'v')
if stored and tonumber(stored) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'm', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('PUBLISH', ARGV[4], ARGV[2])
return 1
"""
_script: Any = None


def snapshot_queryset() -> Any:
    """Runs with what their snapshot needs: every field of the run, of its related rows only those shown."""
    own = [field.attname for field in FeedRun._meta.concrete_fields]
    return FeedRun.objects.select_related(*SNAPSHOT_RELATED).only(*own, *_SNAPSHOT_RELATED_FIELDS)


def snapshot_key(task_id: str) -> str:
    return f"crisp:run:{task_id}:snapshot"


def may_act(user: Any, *, requested_by_id: int | None, feed_owner_id: int | None) -> bool:
    """Who may cancel or undo a run: the user who started it, the feed's owner, or staff."""
    if user is None or not user.is_authenticated:
        return False
    return bool(user.is_staff or (requested_by_id is not None and requested_by_id == user.pk)
                or (feed_owner_id is not None and feed_owner_id == user.pk))  # fmt: skip


def may_see(user: Any, *, requested_by_id: int | None, feed_owner_id: int | None) -> bool:
    """Mirrors `selectors.runs_visible_to`: runs are shared, every authenticated user sees them."""
    return bool(user is not None and user.is_authenticated)


def snapshot_base(run: FeedRun) -> dict[str, Any]:
    """The run as every client sees it, before the per-user fields (`can_cancel`, `can_undo`)."""
    end = run.finished_at or timezone.now()
    elapsed = (end - run.started_at).total_seconds() if run.started_at else 0.0
    rate = run.fetched / elapsed if elapsed > 0 else None
    percent = eta = None
    if run.total_expected:
        percent = round(min(100.0, 100.0 * run.fetched / run.total_expected), 1)
        if rate and not run.finished_at:
            eta = round(max(0, run.total_expected - run.fetched) / rate, 1)
    cancellation = None
    if run.cancel_mode:
        cancellation = {
            "mode": run.cancel_mode,
            "reason": run.cancel_reason,
            "requested_by": run.cancel_requested_by.username if run.cancel_requested_by else None,
            "source": run.cancel_source,
            "requested_at": run.cancel_requested_at,
            "acknowledged_at": run.cancel_acknowledged_at,
            "latency_ms": run.cancel_latency_ms,
            "objects_kept": run.objects_kept,
            "objects_removed": run.objects_removed,
            "objects_restored": run.objects_restored,
            "escalated": run.cancel_escalated,
        }
    undo = None
    if run.undo_requested_at:
        undo = {
            "reason": run.undo_reason,
            "requested_by": run.undo_requested_by.username if run.undo_requested_by else None,
            "source": run.undo_source,
            "requested_at": run.undo_requested_at,
            "undone_at": run.undone_at,
            "latency_ms": run.undo_latency_ms,
            "objects_removed": run.undo_objects_removed,
            "objects_restored": run.undo_objects_restored,
            "indicators_removed": run.undo_indicators_removed,
            "cursor_restored": run.undo_cursor_restored,
        }
    return {
        "task_id": str(run.task_id),
        "run_id": run.pk,
        "feed": {"id": run.feed_id, "name": run.feed.name, "source_type": run.feed.source_type},
        "status": run.status,
        "stage": run.stage or None,
        "trigger": run.trigger,
        "progress": {
            "pages": run.pages,
            "fetched": run.fetched,
            "created": run.created,
            "updated": run.updated,
            "unchanged": run.unchanged,
            "invalid": run.invalid,
            "errors": run.errors,
            "total_expected": run.total_expected,
            "percent": percent,
            "rate_per_second": round(rate, 1) if rate is not None else None,
            "eta_seconds": eta,
        },
        "invalid_samples": run.invalid_samples,
        "requested_by": run.requested_by.username if run.requested_by else None,
        "queued_at": run.queued_at,
        "started_at": run.started_at,
        "heartbeat_at": run.heartbeat_at,
        "finished_at": run.finished_at,
        "cursor_before": run.cursor_before,
        "cursor_after": run.cursor_after,
        "cancellation": cancellation,
        "undo": undo,
        # Hand-backs, operator actions, resumptions: what happened to the run besides its counters.
        "events": run.events,
        "requeues": run.requeues,
        "resumed_from": str(run.resumed_from.task_id) if run.resumed_from_id and run.resumed_from else None,
        "error": {"code": run.error_code, "detail": run.error_message} if run.error_code else None,
        "can_cancel": False,
        "can_undo": False,
    }


def personalize(snapshot: dict[str, Any], user: Any, *, may: bool) -> dict[str, Any]:
    """The snapshot as `user` sees it: `may` = whether they may cancel or undo the run."""
    status = snapshot["status"]
    return {
        **snapshot,
        "can_cancel": bool(may and status in RunStatus.active()),
        "can_undo": bool(may and status in RunStatus.undoable()),
    }


@dataclass(frozen=True)
class LiveSnapshot:
    """A published snapshot with who started the run and who owns its feed (permission checks)."""

    snapshot: dict[str, Any]
    requested_by_id: int | None
    feed_owner_id: int | None

    @classmethod
    def parse(cls, message: bytes | str) -> LiveSnapshot:
        data = json.loads(message)
        return cls(data["s"], data["a"]["requested_by_id"], data["a"]["feed_owner_id"])

    def visible_to(self, user: Any) -> bool:
        return may_see(user, requested_by_id=self.requested_by_id, feed_owner_id=self.feed_owner_id)

    def for_user(self, user: Any) -> dict[str, Any]:
        may = may_act(user, requested_by_id=self.requested_by_id, feed_owner_id=self.feed_owner_id)
        return personalize(self.snapshot, user, may=may)


def encode(run: FeedRun) -> str:
    """The published message: the snapshot (datetimes as the REST API renders them) and its access data."""
    message = {
        "s": snapshot_base(run),
        "a": {"requested_by_id": run.requested_by_id, "feed_owner_id": run.feed.owner_id},
    }
    return json.dumps(message, cls=JSONEncoder, ensure_ascii=False, separators=(",", ":"))


def publish_run(run_id: int) -> bool:
    """Store and publish run `run_id`'s snapshot now; False when Redis is unreachable (the
    database still answers). Call after the change committed (`publish_run_on_commit`)."""
    global _script
    version = time.time_ns()  # before the read: a later read always carries a larger version
    try:  # get(), not first(): compiling first()'s ORDER BY was a third of a publish's CPU
        run = snapshot_queryset().get(pk=run_id)
    except FeedRun.DoesNotExist:
        return False
    try:
        client = sync_client()
        if _script is None:
            _script = client.register_script(_STORE_AND_PUBLISH)
        _script(keys=[snapshot_key(str(run.task_id))], args=[version, encode(run), SNAPSHOT_TTL_SECONDS, CHANNEL],
                client=client)  # fmt: skip
        return True
    except redis.RedisError as exc:
        log.warning("snapshot of run %s not published: %s", run_id, exc)
        return False


def publish_run_on_commit(run_id: int) -> None:
    """Publish once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: publish_run(run_id))


def read_snapshot(task_id: str) -> LiveSnapshot | None:
    """The live snapshot of a run, or None (never published, expired, or Redis down)."""
    try:
        message = sync_client().hget(snapshot_key(task_id), "m")
    except redis.RedisError as exc:
        log.debug("live snapshot of %s unavailable: %s", task_id, exc)
        return None
    return LiveSnapshot.parse(message) if message else None


class RunPublisher(threading.Thread):
    """A running run's publisher, off the ingest's hot path: batches and stage changes only `poke`
    it (one Event.set); it publishes at most every `interval` seconds, always after the last poke.
    Streams relay at most one event per run every 250 ms, so publishing more often buys nothing;
    each publish is a query, and at 100 ms they cost the ingest 3-5 %."""

    def __init__(self, run_id: int, *, interval: float = 0.25) -> None:
        super().__init__(name=f"crisp-publish-{run_id}", daemon=True)
        self.run_id = run_id
        self.interval = interval
        self._poked = threading.Event()
        self._stop = threading.Event()

    def poke(self) -> None:
        self._poked.set()

    def run(self) -> None:
        from django.db import connection

        try:
            while not self._stop.is_set():
                if not self._poked.wait(0.5):
                    continue
                if self._stop.is_set():
                    break  # the run's end publishes its own snapshot; not one more query meanwhile
                self._poked.clear()
                try:
                    publish_run(self.run_id)
                except Exception as exc:  # noqa: BLE001 - a lost DB connection must not end publishing
                    log.warning("progress of run %s not published: %s", self.run_id, exc)
                    connection.close()
                self._stop.wait(self.interval)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop.set()
        self._poked.set()
