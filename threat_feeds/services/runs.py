"""Run lifecycle: start (one active run per feed), execute in the worker, and finalise exactly once."""

from __future__ import annotations

import logging
import os
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from threat_feeds.choices import CancelMode, RunStage, RunStatus, Trigger
from threat_feeds.control.checkpoint import RunCheckpoint, RunInterrupted
from threat_feeds.control.monitor import RunMonitor
from threat_feeds.control.rollback import run_rollback
from threat_feeds.control.signals import CancelListener
from threat_feeds.errors import StateConflict
from threat_feeds.models import FeedRun, ThreatFeed
from threat_feeds.pipeline.runner import BatchReport, ingest
from threat_feeds.pipeline.upsert import StoreWriter
from threat_feeds.services.enrichment import run_enrichment
from threat_feeds.services.feeds import feed_config
from threat_feeds.sources import get_source_class
from threat_feeds.sources.base import SourceError

log = logging.getLogger(__name__)


def feed_run_start(*, feed: ThreatFeed, user: AbstractBaseUser | None, trigger: str = Trigger.API) -> FeedRun:
    """Queue a run of `feed`; raises StateConflict naming the active run when there is one."""
    from threat_feeds.tasks import consume_feed_task  # tasks import services, not the reverse

    if not feed.is_active:
        raise StateConflict(f"feed '{feed.name}' is inactive", code="feed_inactive")
    try:
        with transaction.atomic():
            run = FeedRun.objects.create(
                feed=feed,
                trigger=trigger,
                requested_by=user if user is not None and user.is_authenticated else None,
                cursor_before=feed.cursor or {},
            )
            # The task must never see a run row that is not committed yet.
            consume_feed_task.apply_async_on_commit(args=[run.pk], task_id=str(run.task_id))
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


class _RunRecorder:
    """Writes a run's counters, cursor and stage; called inside each batch's transaction."""

    def __init__(self, run: FeedRun) -> None:
        self.run_id = run.pk
        self.feed_id = run.feed_id
        self.samples: list[str] = list(run.invalid_samples or [])
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
            room = settings.CRISP_INVALID_SAMPLES_KEPT - len(self.samples)
            if room > 0:
                self.samples.extend(report.invalid[:room])
                fields["invalid_samples"] = self.samples
        if report.total_expected is not None:
            fields["total_expected"] = report.total_expected
        move_cursor = report.page_done and report.page_cursor is not None
        if report.page_done:
            fields["pages"] = F("pages") + 1
        if move_cursor:
            fields["cursor_after"] = report.page_cursor
        # Rows are locked run first, then feed, everywhere (cancel, finalise): no lock-order deadlock.
        # A run finalised by someone else (escalation, reaper) must not gain data after the fact.
        if not FeedRun.objects.filter(pk=self.run_id, status__in=RunStatus.active()).update(**fields):
            raise RunInterrupted(CancelMode.CANCEL_JOB, "run_no_longer_active")
        if move_cursor:
            ThreatFeed.objects.filter(pk=self.feed_id).update(cursor=report.page_cursor)

    def on_stage(self, stage: str) -> None:
        if stage != self.stage_now:
            self.stage_now = stage
            FeedRun.objects.filter(pk=self.run_id).update(stage=stage)


def feed_run_execute(*, run_id: int, hostname: str = "") -> str:
    """The body of consume_feed_task. Returns the final status."""
    now = timezone.now()
    claimed = FeedRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        stage=RunStage.CONNECTING,
        worker_hostname=hostname[:200],
        worker_pid=os.getpid(),
    )
    run = FeedRun.objects.select_related("feed").get(pk=run_id)
    if not claimed:
        # Cancelled while queued, or a duplicate delivery of a run another worker owns.
        return run.status

    recorder = _RunRecorder(run)
    checkpoint = RunCheckpoint(on_stage=recorder.on_stage)
    listener = CancelListener(str(run.task_id), checkpoint.signal)
    monitor = RunMonitor(run.pk, checkpoint)
    listener.start()
    monitor.start()
    source = None
    outcome, error = RunStatus.COMPLETED, None
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
                    cursor=run.cursor_before,
                    writer=StoreWriter(run_id=run.pk, feed_id=run.feed_id),
                    checkpoint=checkpoint,
                    on_batch=recorder.on_batch,
                    batch_size=min(run.feed.page_size or 1000, settings.CRISP_STORE_BATCH_SIZE),
                )
        finally:
            checkpoint.disarm()  # from here on no signal may interrupt: we are finalising
    except RunInterrupted as exc:
        outcome = RunStatus.STOPPED if exc.mode == CancelMode.STOP_NOW else RunStatus.CANCELLED
        FeedRun.objects.filter(pk=run_id, cancel_acknowledged_at__isnull=True).update(
            cancel_acknowledged_at=timezone.now()
        )
    except SourceError as exc:
        outcome, error = RunStatus.FAILED, (exc.code, exc.message)
    except Exception as exc:
        log.exception("run %s failed", run_id)
        outcome, error = RunStatus.FAILED, ("internal_error", f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        checkpoint.disarm()
        listener.stop()
        monitor.stop()
        if source is not None:
            source.close()
    if connection.needs_rollback or not connection.is_usable():
        connection.close()
    return run_finalize(run_id=run_id, outcome=outcome, error=error)


def run_finalize(
    *, run_id: int, outcome: str, error: tuple[str, str] | None = None, escalated: bool = False
) -> str:
    """Bring a run to exactly one terminal state, whoever calls (worker, reaper, escalation)."""
    with transaction.atomic():
        # Only the run row is locked (of=self): batches lock the feed row first, then the run.
        run = FeedRun.objects.select_for_update(of=("self",)).select_related("feed").get(pk=run_id)
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
            run.cancel_acknowledged_at = now
            fields.append("cancel_acknowledged_at")
        run.stage = RunStage.FINALIZING if run.stage != RunStage.ROLLING_BACK else run.stage
        run.finished_at = timezone.now()  # after any rollback: the latency includes it
        run.save(update_fields=fields)
        return run.status
