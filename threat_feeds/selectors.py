"""Read queries shared by the API, admin and commands."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from threat_feeds.choices import RunStatus
from threat_feeds.models import FeedRun, ThreatFeed


def feeds_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[ThreatFeed]:
    # Feeds are shared intelligence sources: every authenticated user sees them; writes are checked per action.
    return ThreatFeed.objects.select_related("owner")


def runs_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[FeedRun]:
    return FeedRun.objects.select_related("feed", "requested_by", "cancel_requested_by", "undo_requested_by")


def active_run(feed_id: int) -> FeedRun | None:
    return FeedRun.objects.filter(feed_id=feed_id, status__in=RunStatus.active()).first()


def last_run(feed_id: int) -> FeedRun | None:
    return FeedRun.objects.filter(feed_id=feed_id).order_by("-queued_at", "-id").first()
