"""Small lookups shared by the management commands."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from threat_feeds.models import FeedRun, ThreatFeed


def find_feed(ref: str) -> ThreatFeed:
    feed = ThreatFeed.objects.filter(pk=int(ref)).first() if ref.isdigit() else None
    feed = feed or ThreatFeed.objects.filter(name=ref).first()
    if feed is None:
        raise CommandError(f"no feed with id or name {ref!r}")
    return feed


def find_run(task_id: str) -> FeedRun:
    run = FeedRun.objects.filter(task_id=task_id).first() if len(task_id) >= 32 else None
    if run is None and task_id.isdigit():
        run = FeedRun.objects.filter(pk=int(task_id)).first()
    if run is None:
        raise CommandError(f"no run with task id {task_id!r}")
    return run


def find_user(username: str | None):
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"no user {username!r}")
    return user
