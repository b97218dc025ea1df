"""The periodic reaper: no run is left 'running' by a dead worker or an unanswered cancel.

1. Started runs whose heartbeat stopped are finalised: interrupted, or stopped/cancelled
   (with rollback) when a cancel was pending.
2. Cancels not acknowledged within the grace period are escalated: the task is terminated
   through Celery (targeted at that task id, which Celery only kills while its process still
   runs it), and the run is finalised here, by code that outlives the killed task.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from threat_feeds.choices import RunStatus
from threat_feeds.models import FeedRun

log = logging.getLogger(__name__)


def reap_stale_runs() -> list[int]:
    """Finalise started runs with a stale heartbeat: interrupted, or stopped/cancelled if asked."""
    from threat_feeds.services.runs import run_finalize

    cutoff = timezone.now() - timedelta(seconds=settings.CRISP_HEARTBEAT_TIMEOUT_SECONDS)
    stale = FeedRun.objects.filter(
        status__in=[RunStatus.RUNNING, RunStatus.STOPPING, RunStatus.CANCELLING],
    ).filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff))
    reaped = []
    for run_id in stale.values_list("pk", flat=True):
        run_finalize(
            run_id=run_id,
            outcome=RunStatus.INTERRUPTED,
            error=("worker_lost", "The worker running this run stopped responding (no heartbeat)."),
        )
        reaped.append(run_id)
    return reaped


def escalate_overdue_cancels() -> list[int]:
    """Terminate tasks that ignored a cancel for longer than the grace period, then finalise their runs."""
    from threat_feeds.services.runs import run_finalize
    from threat_feeds.tasks import celery_revoke

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
        celery_revoke(str(run.task_id), terminate=True, signal="SIGKILL")
        outcome = RunStatus.CANCELLED if run.status == RunStatus.CANCELLING else RunStatus.STOPPED
        run_finalize(run_id=run.pk, outcome=outcome, error=None, escalated=True)
        escalated.append(run.pk)
    return escalated
