"""What happens to a run when Celery or its worker acts on it instead of CRISP.

Called from the worker's Celery signal handlers (threat_feeds/worker_hooks.py) and the reaper:
an operator's revoke or terminate (CLI, Flower), a worker shutting down, a worker process that
died. Each ends in the same records as a cancel through CRISP: status, cancellation record, events.
"""

from __future__ import annotations

import logging
import signal as signals
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from threat_feeds.choices import CancelMode, RunStatus, Trigger
from threat_feeds.control.cancellation import feed_run_cancel
from threat_feeds.control.progress import publish_run_on_commit
from threat_feeds.control.signals import announce_hand_back
from threat_feeds.errors import CrispError, StateConflict
from threat_feeds.models import FeedRun
from threat_feeds.services.runs import feed_run_start, run_event, run_finalize

log = logging.getLogger(__name__)


def signal_name(signum: int | str | None) -> str:
    if signum is None:
        return "SIGTERM"
    if isinstance(signum, str) and not signum.isdigit():
        return signum if signum.startswith("SIG") else f"SIG{signum}"
    try:
        return signals.Signals(int(signum)).name
    except ValueError:
        return str(signum)


def run_revoked_through_celery(
    *, task_id: str, terminated: bool, signum: int | str | None = None, requested_at: datetime | None = None
) -> str | None:
    """An operator revoked (a queued run) or terminated (a running one) the run's task through
    Celery; call once its process is gone (or fenced: a late batch finds the run finished).
    Recorded as a cancel by the operator through Celery: stop_now, unless the run already had a
    cancel request (whose mode is kept)."""
    run = FeedRun.objects.filter(task_id=task_id).first()
    if run is None or run.status in RunStatus.terminal():
        return None
    name = signal_name(signum)
    with transaction.atomic():
        run = FeedRun.objects.select_for_update(of=("self",)).get(pk=run.pk)
        if run.status in RunStatus.terminal():
            return run.status
        was_queued = run.status == RunStatus.QUEUED
        if not run.cancel_mode:
            run.cancel_mode = CancelMode.STOP_NOW
            run.cancel_source = Trigger.CELERY
            run.cancel_requested_at = requested_at or timezone.now()
            run.cancel_reason = (
                f"terminated through Celery ({name})" if terminated else "revoked through Celery"
            )
        run.cancel_acknowledged_at = timezone.now()
        run_event(run, "terminated" if terminated else "revoked", signal=name if terminated else None,
                  worker=run.worker_hostname or None)  # fmt: skip
        run.save(
            update_fields=["cancel_mode", "cancel_source", "cancel_requested_at", "cancel_reason",
                           "cancel_acknowledged_at", "events"]
        )  # fmt: skip
        publish_run_on_commit(run.pk)
    cancelled = was_queued or run.cancel_mode == CancelMode.CANCEL_JOB
    return run_finalize(run_id=run.pk, outcome=RunStatus.CANCELLED if cancelled else RunStatus.STOPPED)


def run_worker_pid(*, task_id: str) -> int | None:
    """The pool process running the run (on the worker that holds its task), if it started."""
    return FeedRun.objects.filter(task_id=task_id).values_list("worker_pid", flat=True).first()


def run_revoked_while_running(*, task_id: str) -> None:
    """A plain revoke (no terminate) of a running task: Celery lets it run on; CRISP stops it
    cooperatively at its next checkpoint, recorded as the operator's stop_now."""
    run = FeedRun.objects.filter(task_id=task_id).only("pk", "status").first()
    if run is None or run.status != RunStatus.RUNNING:
        return
    try:
        feed_run_cancel(
            run_id=run.pk, user=None, mode=CancelMode.STOP_NOW, reason="revoked through Celery",
            source=Trigger.CELERY,
        )  # fmt: skip
    except StateConflict:
        pass  # finished meanwhile


def run_worker_lost(*, task_id: str, detail: str) -> str | None:
    """The worker process running the run died (SIGKILL, OOM): interrupted, then maybe resumed."""
    run = FeedRun.objects.filter(task_id=task_id).only("pk", "status").first()
    if run is None or run.status in RunStatus.terminal():
        return None
    status = run_finalize(
        run_id=run.pk,
        outcome=RunStatus.INTERRUPTED,
        error=("worker_lost", f"The worker process running this run died ({detail})."),
    )
    if status == RunStatus.INTERRUPTED:
        run_auto_resume(run_id=run.pk)
    return status


def runs_hand_back(*, task_ids: list[str], hostname: str) -> int:
    """A worker is shutting down: its runs stop at their next checkpoint and go back to the queue.
    Durable on the runs (the monitor's poll) and announced through Redis (the fast path)."""
    if not task_ids:
        return 0
    asked = FeedRun.objects.filter(
        task_id__in=task_ids, status=RunStatus.RUNNING, hand_back_requested_at__isnull=True
    ).update(hand_back_requested_at=timezone.now())
    for task_id in task_ids:
        announce_hand_back(task_id)
    log.info("worker %s shutting down: %s run(s) asked to hand back", hostname, asked)
    return asked


def run_auto_resume(*, run_id: int) -> FeedRun | None:
    """Resume an interrupted run from its feed's cursor, when the feed allows it and the chain
    of automatic resumptions is shorter than CRISP_AUTO_RESUME_ATTEMPTS."""
    run = FeedRun.objects.select_related("feed", "requested_by").get(pk=run_id)
    feed = run.feed
    if run.status != RunStatus.INTERRUPTED or not (feed.auto_resume and feed.is_active):
        return None
    if run.resume_attempt >= settings.CRISP_AUTO_RESUME_ATTEMPTS:
        log.warning("run %s: not resumed, %s automatic resumptions already", run_id, run.resume_attempt)
        return None
    if FeedRun.objects.filter(resumed_from=run).exists():
        return None  # the reaper and the worker may both get here
    try:
        resumed = feed_run_start(feed=feed, user=run.requested_by, trigger=Trigger.RESUME, resumed_from=run)
    except CrispError as exc:
        log.info("run %s: not resumed (%s)", run_id, exc.detail)
        return None
    with transaction.atomic():
        run = FeedRun.objects.select_for_update(of=("self",)).get(pk=run_id)
        run_event(run, "resumed", by_run=str(resumed.task_id))
        run.save(update_fields=["events"])
        publish_run_on_commit(run.pk)
    return resumed
