"""Feed configuration: saving feeds, their schedules, and the config handed to sources."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from threat_feeds.models import ThreatFeed
from threat_feeds.sources.base import FeedConfig


def feed_config(feed: ThreatFeed) -> FeedConfig:
    return FeedConfig(
        source_type=feed.source_type,
        url=feed.url,
        collection_id=feed.collection_id,
        username=feed.username,
        password=feed.password,
        api_key=feed.api_key,
        page_size=feed.page_size,
        settings=_source_settings(feed),
        allow_private_urls=settings.CRISP_ALLOW_PRIVATE_FEED_URLS or is_demo_feed(feed),
        max_response_bytes=settings.CRISP_MAX_RESPONSE_BYTES,
        max_bundle_bytes=settings.CRISP_MAX_BUNDLE_BYTES,
        max_object_bytes=settings.CRISP_MAX_OBJECT_BYTES,
        max_json_depth=settings.CRISP_MAX_JSON_DEPTH,
        max_json_values=settings.CRISP_MAX_JSON_VALUES,
        max_pages=settings.CRISP_MAX_PAGES_PER_RUN,
        max_idle_pages=settings.CRISP_MAX_IDLE_PAGES,
        request_timeout=settings.CRISP_REQUEST_TIMEOUT_SECONDS,
        request_deadline=settings.CRISP_REQUEST_DEADLINE_SECONDS,
        stream_deadline=settings.CRISP_STREAM_DEADLINE_SECONDS,
    )


def _source_settings(feed: ThreatFeed) -> dict[str, Any]:
    """The feed's settings as the source reads them; `upload_path` only ever comes from the server."""
    from threat_feeds.services.uploads import feed_upload_path

    options = {k: v for k, v in (feed.settings or {}).items() if k != "upload_path"}
    path = feed_upload_path(feed)
    if path is not None:
        options["upload_path"] = str(path)
    return options


def is_demo_feed(feed: ThreatFeed) -> bool:
    """The bootstrap demo feed reads the local demo server; nothing else gets loopback for free."""
    return bool((feed.settings or {}).get("demo")) and feed.url.startswith(settings.CRISP_DEMO_TAXII_URL)


@transaction.atomic
def feed_schedule_sync(feed: ThreatFeed) -> None:
    """Keep the feed's django-celery-beat entry in step with `schedule_minutes` / `is_active`."""
    task = feed.periodic_task
    if not feed.schedule_minutes:
        if task is not None:
            feed.periodic_task = None
            feed.save(update_fields=["periodic_task"])
            task.delete()
        return
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=feed.schedule_minutes, period=IntervalSchedule.MINUTES
    )
    if task is None:
        task = PeriodicTask(name=f"consume feed {feed.pk}")
    task.interval = interval
    task.task = "threat_feeds.scheduled_consume_task"
    task.args = json.dumps([feed.pk])
    task.enabled = feed.is_active
    task.save()
    if feed.periodic_task_id != task.pk:
        feed.periodic_task = task
        feed.save(update_fields=["periodic_task"])


@transaction.atomic
def feed_delete(feed: ThreatFeed) -> None:
    task = feed.periodic_task
    feed.delete()
    if task is not None:
        task.delete()
