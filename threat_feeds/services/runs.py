"""Run lifecycle: start (one active run per feed), execute in the worker, and finalise exactly once."""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from threat_feeds.choices import HAND_BACK, CancelMode, RunStage, RunStatus, Trigger
from threat_feeds.control import dispatch
from threat_feeds.control.checkpoint import RunCheckpoint, RunInterrupted
from threat_feeds.control.monitor import RunMonitor
from threat_feeds.control.progress import RunPublisher, publish_run, publish_run_on_commit
from threat_feeds.control.rollback import run_rollback
from threat_feeds.control.signals import CancelListener
from threat_feeds.errors import StateConflict
from threat_feeds.models import FeedRun, ThreatFeed
from threat_feeds.pipeline.runner import BatchReport, fewer_collections, ingest
from threat_feeds.pipeline.upsert import StoreWriter
from threat_feeds.services.enrichment import run_enrichment
from threat_feeds.services.feeds import feed_config
from threat_feeds.sources import get_source_class
from threat_feeds.sources.base import SourceError

log = logging.getLogger(__name__)


def feed_run_start(
    *,
    feed: ThreatFeed,
    user: AbstractBaseUser | None,
    trigger: str = Trigger.API,
    resumed_from: FeedRun | None = None,
) -> FeedRun:
    """Queue a run of `feed`; raises StateConflict naming the active run when there is one.
    A resumed run goes to the queue of the run it continues."""
    if not feed.is_active:
        raise StateConflict(f"feed '{feed.name}' is inactive", code="feed_inactive")
    try:
        with transaction.atomic():
            run = FeedRun.objects.create(
                feed=feed,
                trigger=trigger,
                requested_by=user if user is not None and user.is_authenticated else None,
                queue=resumed_from.queue if resumed_from and resumed_from.queue else dispatch.default_queue(),
                enqueued_at=timezone.now(),
                resumed_from=resumed_from,
                resume_attempt=resumed_from.resume_attempt + 1 if resumed_from else 0,
            )
            # Then the cursor as committed, under the feed's lock: an undo rewinding it meanwhile
            # (it takes the same lock before deciding) must not leave this run resuming past it.
            # The run first, the feed second, as everywhere (a batch holding its run updates the
            # cursor last); NO KEY UPDATE, so the insert's own foreign-key lock never blocks it.
            locked = ThreatFeed.objects.select_for_update(no_key=True).values_list("cursor", flat=True)
            run.cursor_before = locked.get(pk=feed.pk) or {}
            run.save(update_fields=["cursor_before"])
            enqueue_on_commit(run)
            publish_run_on_commit(run.pk)
    except IntegrityError as exc:
        active = FeedRun.objects.filter(feed=feed, status__in=RunStatus.active()).first()
        if active is None:
            raise
        raise StateConflict(
            f"feed '{feed.name}' already has an active run ({active.status})",
            code="run_active",
            extra={"active_run": str(active.task_id)},
        ) from exc
    return run


def enqueue_on_commit(run: FeedRun) -> None:
    # The task must never see a run row that is not committed yet.
    run_id, task_id, queue = run.pk, str(run.task_id), run.queue
    transaction.on_commit(lambda: dispatch.enqueue_run(run_id=run_id, task_id=task_id, queue=queue))


def run_event(run: FeedRun, event: str, **data: Any) -> None:
    """Append to the run's history (call under the run's row lock, then save `events`)."""
    run.events = [*(run.events or []), {"event": event, "at": timezone.now().isoformat(), **data}]


class _RunRecorder:
    """Writes a run's counters, cursor and stage; called inside each batch's transaction."""

    def __init__(self, run: FeedRun, publisher: RunPublisher | None = None) -> None:
        self.run_id = run.pk
        # Without a publisher thread (tests, tools driving the pipeline), publish at each commit.
        self.poke = publisher.poke if publisher is not None else lambda: publish_run(self.run_id)
        self.feed_id = run.feed_id
        self.samples: list[str] = list(run.invalid_samples or [])
        self.samples_lock = threading.Lock()
        self.stage_now = ""

    def on_batch(self, report: BatchReport) -> None:
        counts = report.counts
        fields: dict[str, Any] = {
            "fetched": F("fetched") + report.fetched,
            "created": F("created") + counts.created,
            "updated": F("updated") + counts.updated,
            "unchanged": F("unchanged") + counts.unchanged,
            "heartbeat_at": timezone.now(),
        }
        if report.invalid:
            fields["invalid"] = F("invalid") + len(report.invalid)
            with self.samples_lock:  # batches of one run may be stored by several threads at once
                room = settings.CRISP_INVALID_SAMPLES_KEPT - len(self.samples)
                if room > 0:
                    self.samples.extend(report.invalid[:room])
                    fields["invalid_samples"] = list(self.samples)
        if report.total_expected is not None:
            fields["total_expected"] = report.total_expected
        move_cursor = report.page_cursor is not None
        if report.pages:
            fields["pages"] = F("pages") + report.pages
        if move_cursor:
            fields["cursor_after"] = report.page_cursor
        # Lock order everywhere: run row, object rows, indicator rows, feed row (docs/ARCHITECTURE.md).
        # A run finalised by someone else (escalation, reaper) must not gain data after the fact.
        if not FeedRun.objects.filter(pk=self.run_id, status__in=RunStatus.active()).update(**fields):
            raise RunInterrupted(CancelMode.CANCEL_JOB, "run_no_longer_active")
        if move_cursor:
            ThreatFeed.objects.filter(pk=self.feed_id).update(cursor=report.page_cursor)
        transaction.on_commit(self.poke)  # live progress: the snapshot follows each batch

    def on_stage(self, stage: str) -> None:
        if stage != self.stage_now:
            self.stage_now = stage
            FeedRun.objects.filter(pk=self.run_id).update(stage=stage)
            self.poke()


def feed_run_execute(*, run_id: int, hostname: str = "") -> str:
    """The body of consume_feed_task. Returns the final status."""
    now = timezone.now()
    claimed = FeedRun.objects.filter(
        pk=run_id, status=RunStatus.QUEUED
    ).update(
        status=RunStatus.RUNNING,
        started_at=Coalesce(F("started_at"), now),  # a handed-back run keeps its first start
        heartbeat_at=now,
        stage=RunStage.CONNECTING,
        worker_hostname=hostname[:200],
        worker_pid=os.getpid(),
    )
    run = FeedRun.objects.select_related("feed").get(pk=run_id)
    if not claimed:
        # Cancelled while queued, or a duplicate delivery of a run another worker owns.
        return run.status
    run_event(run, "started", worker=hostname, pid=os.getpid())
    FeedRun.objects.filter(pk=run_id).update(events=run.events)
    publish_run(run_id)
    # A run handed back by a worker shutting down resumes after its last fully stored page.
    cursor = run.cursor_after if run.pages and run.cursor_after else run.cursor_before

    publisher = RunPublisher(run.pk)
    recorder = _RunRecorder(run, publisher)
    checkpoint = RunCheckpoint(on_stage=recorder.on_stage)
    with fewer_collections(checkpoint):
        outcome, error, acknowledged_at = _run_source(run, cursor, checkpoint, recorder, publisher)
        # A round trip to check the connection only after a database error (the common stop has none).
        if connection.needs_rollback or (connection.errors_occurred and not connection.is_usable()):
            connection.close()
        if outcome == HAND_BACK:
            return run_hand_back(run_id=run_id, hostname=hostname)
        # After a stop_now the store's refused batches may still be rolling back: no need to wait.
        return run_finalize(run_id=run_id, outcome=outcome, error=error, acknowledged_at=acknowledged_at,
                            wait_for_batches=acknowledged_at is None)  # fmt: skip


def _run_source(
    run: FeedRun,
    cursor: dict[str, Any],
    checkpoint: RunCheckpoint,
    recorder: _RunRecorder,
    publisher: RunPublisher,
) -> tuple[str, tuple[str, str] | None, datetime | None]:
    """Ingest (or enrich) with the run's companion threads around it: the outcome to finalise, its
    error, and when a stop_now was acknowledged (recorded with the run's end, moments later)."""
    listener = CancelListener(str(run.task_id), checkpoint.signal)
    monitor = RunMonitor(run.pk, checkpoint)
    listener.start()
    monitor.start()
    publisher.start()
    source = None
    outcome, error, acknowledged_at = RunStatus.COMPLETED, None, None
    try:
        listener.ready.wait(2.0)
        monitor.beat()  # picks up a cancel recorded before the listener subscribed
        source = get_source_class(run.feed.source_type)(feed_config(run.feed), checkpoint)
        enriches = getattr(source, "enriches", False)
        if settings.CRISP_INTERRUPT_BLOCKING_CALLS:
            if not enriches:  # enrichment sources cancel their own request in flight (abort)
                checkpoint.arm()
            checkpoint.on_signal(source.abort)
        try:
            if enriches:
                run_enrichment(run=run, source=source, checkpoint=checkpoint)
            else:
                ingest(
                    source=source,
                    cursor=cursor,
                    writer=StoreWriter(run_id=run.pk, feed_id=run.feed_id),
                    checkpoint=checkpoint,
                    on_batch=recorder.on_batch,
                    batch_size=min(run.feed.page_size or 1000, settings.CRISP_STORE_BATCH_SIZE),
                )
        finally:
            checkpoint.disarm()  # from here on no signal may interrupt: we are finalising
    except RunInterrupted as exc:
        if exc.mode == HAND_BACK:
            outcome = HAND_BACK
        elif checkpoint.signalled_mode == CancelMode.STOP_NOW:  # not escalated meanwhile
            outcome, acknowledged_at = RunStatus.STOPPED, timezone.now()
        else:
            # Recorded at once: a rollback can take seconds, and the reaper escalates an
            # unacknowledged cancel.
            outcome = RunStatus.CANCELLED
            FeedRun.objects.filter(pk=run.pk, cancel_acknowledged_at__isnull=True).update(
                cancel_acknowledged_at=timezone.now()
            )
    except SourceError as exc:
        outcome, error = RunStatus.FAILED, (exc.code, exc.message)
    except Exception as exc:
        log.exception("run %s failed", run.pk)
        outcome, error = RunStatus.FAILED, ("internal_error", f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        checkpoint.disarm()
        listener.stop()
        monitor.stop()
        publisher.stop()
        if source is not None:
            source.close()
    return outcome, error, acknowledged_at


def run_hand_back(*, run_id: int, hostname: str) -> str:
    """A worker shutting down stopped this run at a checkpoint: back to the queue (running ->
    queued) to resume from its cursor on another worker, or the same one after its restart."""
    with transaction.atomic():
        run = FeedRun.objects.select_for_update(of=("self",)).get(pk=run_id)
        if run.status != RunStatus.RUNNING:
            # A cancel arrived meanwhile: it decides (stopping -> stopped, cancelling -> cancelled).
            outcome = RunStatus.CANCELLED if run.status == RunStatus.CANCELLING else RunStatus.STOPPED
        else:
            run.status, run.stage = RunStatus.QUEUED, ""
            run.hand_back_requested_at = run.heartbeat_at = run.worker_pid = None
            run.enqueued_at = timezone.now()
            run_event(run, "requeued", reason="worker_shutdown", from_worker=hostname, pages=run.pages)
            run.save(
                update_fields=[
                    "status", "stage", "hand_back_requested_at", "heartbeat_at", "worker_pid",
                    "enqueued_at", "events",
                ]
            )  # fmt: skip
            enqueue_on_commit(run)
            publish_run_on_commit(run.pk)
            log.info("run %s handed back to queue %s by %s", run_id, run.queue, hostname)
            return run.status
    return run_finalize(run_id=run_id, outcome=outcome)


class _AcknowledgeFirst(Exception):
    pass


def run_finalize(
    *,
    run_id: int,
    outcome: str,
    error: tuple[str, str] | None = None,
    escalated: bool = False,
    acknowledged_at: datetime | None = None,
    wait_for_batches: bool = True,
) -> str:
    """Bring a run to exactly one terminal state, whoever calls (worker, reaper, escalation).

    `acknowledged_at`: when the worker stopped for a cancel not yet recorded as acknowledged.
    `wait_for_batches=False`: the caller's batches still in flight were refused by a stop; they
    roll back without asking for the run row again, so the run is locked without waiting for them
    (NO KEY UPDATE, which the KEY SHARE of their foreign keys does not block)."""
    try:
        return _finalize(run_id, outcome, error, escalated, acknowledged_at, wait_for_batches)
    except _AcknowledgeFirst:
        # A cancel_job came after the stop_now the worker stopped for: the rollback ahead may take
        # seconds, and the reaper escalates an unacknowledged cancel. Record the acknowledgement first.
        FeedRun.objects.filter(pk=run_id, cancel_acknowledged_at__isnull=True).update(
            cancel_acknowledged_at=acknowledged_at
        )
        return _finalize(run_id, outcome, error, escalated, None, wait_for_batches)


def _finalize(
    run_id: int,
    outcome: str,
    error: tuple[str, str] | None,
    escalated: bool,
    acknowledged_at: datetime | None,
    wait_for_batches: bool,
) -> str:
    with transaction.atomic():
        # Only the run row is locked (of=self); lock order everywhere: run, objects, indicators, feed.
        locked = FeedRun.objects.select_for_update(of=("self",), no_key=not wait_for_batches)
        run = locked.get(pk=run_id)
        if run.status in RunStatus.terminal():
            return run.status
        now = timezone.now()
        fields = ["status", "stage", "finished_at"]
        if escalated:
            run.cancel_escalated = True
            fields.append("cancel_escalated")
        if run.status == RunStatus.CANCELLING or (
            outcome == RunStatus.CANCELLED and run.status != RunStatus.STOPPING
        ):
            if acknowledged_at is not None and run.cancel_acknowledged_at is None:
                raise _AcknowledgeFirst
            run.stage = RunStage.ROLLING_BACK
            result = run_rollback(run.pk)
            ThreatFeed.objects.filter(pk=run.feed_id).update(cursor=run.cursor_before or {})
            run.status = RunStatus.CANCELLED
            run.objects_kept, run.objects_removed, run.objects_restored = 0, result.removed, result.restored
            fields += ["objects_kept", "objects_removed", "objects_restored"]
        elif run.status == RunStatus.STOPPING or outcome == RunStatus.STOPPED:
            run.status = RunStatus.STOPPED
            run.objects_kept, run.objects_removed = run.created + run.updated, 0
            fields += ["objects_kept", "objects_removed"]
        elif outcome == RunStatus.INTERRUPTED:
            run.status = RunStatus.INTERRUPTED
        else:
            run.status = outcome
        if error is not None:
            run.error_code, run.error_message = error
            fields += ["error_code", "error_message"]
        if run.cancel_mode and run.cancel_acknowledged_at is None:
            run.cancel_acknowledged_at = acknowledged_at or now
            fields.append("cancel_acknowledged_at")
        run.stage = RunStage.FINALIZING if run.stage != RunStage.ROLLING_BACK else run.stage
        run.finished_at = timezone.now()  # after any rollback: the latency includes it
        run.save(update_fields=fields)
        publish_run_on_commit(run.pk)
        return run.status
