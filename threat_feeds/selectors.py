"""Read queries shared by the API, admin and commands."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from threat_feeds.choices import RunStatus
from threat_feeds.models import FeedRun, ThreatFeed


def feeds_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[ThreatFeed]:
    # Feeds are shared intelligence sources: every authenticated user sees them; writes are checked per action.
    return ThreatFeed.objects.select_related("owner").prefetch_related("shared_with")


def can_manage_feed(user: AbstractBaseUser | AnonymousUser, feed: ThreatFeed) -> bool:
    """Owner or staff: delete, change where it connects and with which credentials, share it."""
    return bool(user.is_authenticated and (user.is_staff or feed.owner_id == user.pk))


def can_edit_feed(user: AbstractBaseUser | AnonymousUser, feed: ThreatFeed) -> bool:
    """Owner, staff, or a user the owner shares the feed with: edit it and start runs of it."""
    if can_manage_feed(user, feed):
        return True
    if not user.is_authenticated:
        return False
    return any(member.pk == user.pk for member in feed.shared_with.all())


def runs_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[FeedRun]:
    return FeedRun.objects.select_related("feed", "requested_by", "cancel_requested_by", "undo_requested_by")


def active_run(feed_id: int) -> FeedRun | None:
    return FeedRun.objects.filter(feed_id=feed_id, status__in=RunStatus.active()).first()


def last_run(feed_id: int) -> FeedRun | None:
    return FeedRun.objects.filter(feed_id=feed_id).order_by("-queued_at", "-id").first()
