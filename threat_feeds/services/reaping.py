"""The periodic reaper: no run is left active that no worker holds.

1. Started runs whose heartbeat stopped (the whole worker died) are finalised: interrupted, or
   stopped/cancelled (with rollback) when a cancel was pending; interrupted ones may be resumed.
2. Cancels not acknowledged within the grace period are escalated: the task is terminated
   through Celery (targeted at that task id, which Celery only kills while its process still
   runs it); the worker's task_revoked handler finalises the run once the process is gone, and
   the reaper does it itself if that worker does not answer.
3. Queued runs whose message the broker lost (purge, Redis restarted without persistence) are
   sent again, a bounded number of times, then failed with a clear error.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from threat_feeds.choices import RunStatus
from threat_feeds.control import dispatch
from threat_feeds.control.progress import publish_run, publish_run_on_commit
from threat_feeds.models import FeedRun
from threat_feeds.services.runs import enqueue_on_commit, run_event, run_finalize
from threat_feeds.services.worker_events import run_auto_resume

log = logging.getLogger(__name__)
_LOST_MESSAGE = (
    "The run's queue message was lost {times} times (broker purged or restarted without "
    "persistence); start the feed again."
)


def reap_stale_runs() -> list[int]:
    """Finalise started runs with a stale heartbeat: interrupted, or stopped/cancelled if asked."""
    cutoff = timezone.now() - timedelta(seconds=settings.CRISP_HEARTBEAT_TIMEOUT_SECONDS)
    stale = FeedRun.objects.filter(
        status__in=[RunStatus.RUNNING, RunStatus.STOPPING, RunStatus.CANCELLING],
    ).filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff))
    reaped = []
    for run_id in stale.values_list("pk", flat=True):
        status = run_finalize(
            run_id=run_id,
            outcome=RunStatus.INTERRUPTED,
            error=("worker_lost", "The worker running this run stopped responding (no heartbeat)."),
        )
        if status == RunStatus.INTERRUPTED:
            run_auto_resume(run_id=run_id)
        reaped.append(run_id)
    return reaped


def _finished_by_worker(run_id: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if FeedRun.objects.filter(pk=run_id, status__in=RunStatus.terminal()).exists():
            return True
        time.sleep(0.05)
    return False


def escalate_overdue_cancels() -> list[int]:
    """Terminate tasks that ignored a cancel for longer than the grace period, then see them finalised."""
    cutoff = timezone.now() - timedelta(seconds=settings.CRISP_CANCEL_GRACE_SECONDS)
    overdue = FeedRun.objects.filter(
        status__in=[RunStatus.STOPPING, RunStatus.CANCELLING],
        cancel_requested_at__lt=cutoff,
        cancel_acknowledged_at__isnull=True,
    )
    escalated = []
    for run in overdue.only("pk", "task_id", "status"):
        log.warning(
            "run %s ignored its cancel for %ss: terminating task %s",
            run.pk,
            settings.CRISP_CANCEL_GRACE_SECONDS,
            run.task_id,
        )
        FeedRun.objects.filter(pk=run.pk).update(cancel_escalated=True)
        publish_run(run.pk)
        dispatch.revoke(str(run.task_id), terminate=True, signal="SIGKILL")
        # The worker holding the task finalises it once the process is gone (worker_hooks);
        # if that worker itself is gone, nobody else will.
        if not _finished_by_worker(run.pk, settings.CRISP_TERMINATE_WAIT_SECONDS + 2):
            outcome = RunStatus.CANCELLED if run.status == RunStatus.CANCELLING else RunStatus.STOPPED
            run_finalize(run_id=run.pk, outcome=outcome, error=None, escalated=True)
        escalated.append(run.pk)
    return escalated


def reap_lost_queued_runs() -> list[int]:
    """Send again the task of queued runs whose message the broker no longer holds."""
    cutoff = timezone.now() - timedelta(seconds=settings.CRISP_QUEUED_LOST_SECONDS)
    waiting = FeedRun.objects.filter(status=RunStatus.QUEUED).filter(
        Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True, queued_at__lt=cutoff)
    )
    handled = []
    for candidate in waiting.only("pk", "task_id", "queue"):
        if dispatch.broker_holds(str(candidate.task_id), candidate.queue) is not False:
            continue  # still waiting its turn, or the broker cannot tell: leave it
        failed = False
        with transaction.atomic():
            run = FeedRun.objects.select_for_update(of=("self",)).get(pk=candidate.pk)
            if run.status != RunStatus.QUEUED or (run.enqueued_at and run.enqueued_at >= cutoff):
                continue  # claimed or sent again meanwhile
            if run.requeues >= settings.CRISP_MAX_REQUEUES:
                failed = True
            else:
                run.requeues += 1
                run.enqueued_at = timezone.now()
                run_event(run, "requeued", reason="message_lost", attempt=run.requeues)
                run.save(update_fields=["requeues", "enqueued_at", "events"])
                enqueue_on_commit(run)
                publish_run_on_commit(run.pk)
                log.warning("run %s: its queue message was lost; sent again (%s)", run.pk, run.requeues)
        if failed:
            run_finalize(
                run_id=candidate.pk,
                outcome=RunStatus.FAILED,
                error=("task_lost", _LOST_MESSAGE.format(times=settings.CRISP_MAX_REQUEUES + 1)),
            )
        handled.append(candidate.pk)
    return handled
