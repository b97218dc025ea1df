"""Enrichment runs (VirusTotal): the run-model side of pipeline/enrich.py, called by feed_run_execute."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from threat_feeds.choices import CancelMode, RunStatus
from threat_feeds.control.checkpoint import RunCheckpoint, RunInterrupted
from threat_feeds.control.progress import publish_run
from threat_feeds.control.ratelimit import QuotaLimiter
from threat_feeds.models import FeedRun
from threat_feeds.pipeline.enrich import EnrichSettings, enrich, store_enrichment
from threat_feeds.sources.base import Source

# VirusTotal's public API allowance, used when the feed does not say.
DEFAULT_QUOTA_PER_MINUTE = 4
DEFAULT_QUOTA_PER_DAY = 500


def enrichment_limiter(*, source_type: str, api_key: str, settings: dict[str, Any]) -> QuotaLimiter:
    """The quota shared by every run (any worker) using this API key."""
    return QuotaLimiter(
        name=source_type,
        api_key=api_key,
        per_window=int(settings.get("quota_per_minute") or DEFAULT_QUOTA_PER_MINUTE),
        # A shorter window (e.g. for tests) keeps the same count per window.
        window_seconds=float(settings.get("quota_window_seconds") or 60),
        per_day=int(settings.get("quota_per_day") or DEFAULT_QUOTA_PER_DAY),
    )


def run_enrichment(*, run: FeedRun, source: Source, checkpoint: RunCheckpoint) -> None:
    """Enrich the indicators the feed's settings select; every result is its own transaction."""
    feed = run.feed
    settings = dict(feed.settings or {})
    supported = tuple(getattr(source, "supported_kinds", ()))
    options = EnrichSettings.from_feed(settings, supported)
    limiter = enrichment_limiter(source_type=feed.source_type, api_key=feed.api_key, settings=settings)

    def on_selected(count: int) -> None:
        FeedRun.objects.filter(pk=run.pk).update(total_expected=count, heartbeat_at=timezone.now())
        publish_run(run.pk)

    def store(indicator_id: int, result: dict[str, Any]) -> None:
        with transaction.atomic():
            # The run row first (as batches do), then the indicator: one lock order everywhere.
            counted = FeedRun.objects.filter(pk=run.pk, status__in=RunStatus.active()).update(
                fetched=F("fetched") + 1, updated=F("updated") + 1, heartbeat_at=timezone.now()
            )
            if not counted:  # finalised by someone else meanwhile: write nothing more
                raise RunInterrupted(CancelMode.CANCEL_JOB, "run_no_longer_active")
            if not store_enrichment(run_id=run.pk, indicator_id=indicator_id, source=feed.source_type,
                                    result=result):  # fmt: skip
                FeedRun.objects.filter(pk=run.pk).update(updated=F("updated") - 1)
            transaction.on_commit(lambda: publish_run(run.pk))

    enrich(source=source, options=options, limiter=limiter, checkpoint=checkpoint,  # type: ignore[arg-type]
           on_selected=on_selected, store=store)  # fmt: skip
