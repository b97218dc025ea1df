"""The periodic reaper: runs whose worker stopped heart-beating are finalised, never left 'running'."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from threat_feeds.choices import RunStatus
from threat_feeds.models import FeedRun


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
