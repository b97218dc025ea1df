"""Celery tasks: thin wrappers that pass ids to the service layer."""

from __future__ import annotations

from celery import shared_task

from threat_feeds.choices import Trigger
from threat_feeds.errors import StateConflict


@shared_task(bind=True, name="threat_feeds.consume_feed_task", ignore_result=True)
def consume_feed_task(self, run_id: int) -> str:  # type: ignore[no-untyped-def]
    from threat_feeds.services.runs import feed_run_execute

    return feed_run_execute(run_id=run_id, hostname=self.request.hostname or "")


@shared_task(name="threat_feeds.scheduled_consume_task", ignore_result=True)
def scheduled_consume_task(feed_id: int) -> str:
    from threat_feeds.models import ThreatFeed
    from threat_feeds.services.runs import feed_run_start

    feed = ThreatFeed.objects.filter(pk=feed_id, is_active=True).first()
    if feed is None:
        return "feed inactive or gone"
    try:
        run = feed_run_start(feed=feed, user=None, trigger=Trigger.SCHEDULE)
    except StateConflict as exc:
        return f"skipped: {exc.detail}"
    return str(run.task_id)


@shared_task(name="threat_feeds.reap_stale_runs_task", ignore_result=True)
def reap_stale_runs_task() -> int:
    from threat_feeds.services.reaping import escalate_overdue_cancels, reap_lost_queued_runs, reap_stale_runs

    return len(escalate_overdue_cancels()) + len(reap_stale_runs()) + len(reap_lost_queued_runs())


__all__ = ["consume_feed_task", "reap_stale_runs_task", "scheduled_consume_task"]
