"""Read queries shared by the API, admin and commands."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from threat_feeds.choices import RunStatus
from threat_feeds.models import (
    FeedRun,
    Indicator,
    IndicatorProvenance,
    ObjectProvenance,
    StixObject,
    ThreatFeed,
)


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


def stix_objects_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[StixObject]:
    # The store is shared like the feeds that fill it (see feeds_visible_to).
    return StixObject.objects.all()


def indicators_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Indicator]:
    return Indicator.objects.all()


def stix_objects_for_export(
    *,
    user: AbstractBaseUser | AnonymousUser,
    feed: int | None = None,
    run: int | None = None,
    type: str | None = None,
    modified_after: datetime | None = None,
) -> QuerySet[StixObject]:
    """The current versions a bundle export selects, in id order (a subquery, not a DISTINCT join)."""
    objects = stix_objects_visible_to(user)
    links = ObjectProvenance.objects.all()
    if feed is not None:
        links = links.filter(feed_id=feed, feed__in=feeds_visible_to(user))
    if run is not None:
        links = links.filter(run_id=run, run__in=runs_visible_to(user))
    if feed is not None or run is not None:
        objects = objects.filter(pk__in=links.values("stix_object_id"))
    if type:
        objects = objects.filter(type=type)
    if modified_after is not None:
        objects = objects.filter(modified__gt=modified_after)
    return objects.order_by("pk")


def indicators_for_export(
    *,
    user: AbstractBaseUser | AnonymousUser,
    kinds: list[str] | None = None,
    feed: int | None = None,
    run: int | None = None,
    first_seen_after: datetime | None = None,
    min_malicious: int | None = None,
) -> QuerySet[Indicator]:
    indicators = indicators_visible_to(user)
    if kinds:
        indicators = indicators.filter(kind__in=kinds)
    if feed is not None:
        links = IndicatorProvenance.objects.filter(feed_id=feed, feed__in=feeds_visible_to(user))
        indicators = indicators.filter(pk__in=links.values("indicator_id"))
    if run is not None:
        links = IndicatorProvenance.objects.filter(run_id=run, run__in=runs_visible_to(user))
        indicators = indicators.filter(pk__in=links.values("indicator_id"))
    if first_seen_after is not None:
        indicators = indicators.filter(first_seen_at__gt=first_seen_after)
    if min_malicious is not None:
        indicators = indicators.filter(
            enrichment__virustotal__last_analysis_stats__malicious__gte=min_malicious
        )
    return indicators.order_by("pk")
