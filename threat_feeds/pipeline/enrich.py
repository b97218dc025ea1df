"""The enrichment loop: select indicators, take a quota slot, look each up, store the result.

Each result is written in its own small transaction together with the provenance row
(`IndicatorEnrichment`: what the indicator held before) and the run's counters, so a stop keeps
exactly the enrichments written and cancel_job can put back exactly what they replaced.
Knows nothing of Celery; the quota limiter and the per-result callback are handed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from threat_feeds.control.checkpoint import RunCheckpoint
from threat_feeds.control.ratelimit import QuotaDecision
from threat_feeds.models import Indicator, IndicatorEnrichment
from threat_feeds.sources.base import SourceError

DEFAULT_QUOTA_RETRY_SECONDS = 60.0
DEFAULT_MAX_QUOTA_WAITS = 1000


class Limiter(Protocol):
    def acquire(self) -> QuotaDecision: ...


class Enricher(Protocol):
    source_type: str

    def lookup(self, kind: str, value: str) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class EnrichSettings:
    kinds: tuple[str, ...]
    feeds: tuple[int, ...] = ()
    not_enriched_days: float | None = None
    max_indicators: int | None = None
    on_quota: str = "wait"  # "wait" | "stop"
    quota_retry_seconds: float = DEFAULT_QUOTA_RETRY_SECONDS

    @classmethod
    def from_feed(cls, settings: Mapping[str, Any], supported: tuple[str, ...]) -> EnrichSettings:
        kinds = tuple(k for k in (settings.get("kinds") or supported) if k in supported)
        days = settings.get("not_enriched_days")
        on_quota = str(settings.get("on_quota") or "wait")
        if on_quota not in ("wait", "stop"):
            raise SourceError(f"on_quota must be 'wait' or 'stop', not {on_quota!r}.", code="bad_settings")
        return cls(
            kinds=kinds,
            feeds=tuple(int(f) for f in settings.get("feeds") or ()),
            not_enriched_days=float(days) if days not in (None, "") else None,
            max_indicators=int(settings["max_indicators"]) if settings.get("max_indicators") else None,
            on_quota=on_quota,
            quota_retry_seconds=float(settings.get("quota_retry_seconds", DEFAULT_QUOTA_RETRY_SECONDS)),
        )


def select_indicators(options: EnrichSettings) -> list[tuple[int, str, str]]:
    """(id, kind, value) of the indicators an enrichment run will look up, in id order."""
    query = Indicator.objects.filter(kind__in=options.kinds)
    if options.feeds:
        query = query.filter(provenance__feed_id__in=options.feeds)
    if options.not_enriched_days is not None:
        cutoff = timezone.now() - timedelta(days=options.not_enriched_days)
        query = query.filter(Q(enriched_at__isnull=True) | Q(enriched_at__lt=cutoff))
    rows = query.order_by("id").values_list("id", "kind", "value").distinct()
    return list(rows[: options.max_indicators] if options.max_indicators else rows)


def _take_quota(limiter: Limiter, options: EnrichSettings, checkpoint: RunCheckpoint) -> None:
    while True:
        decision = limiter.acquire()
        if decision.granted:
            return
        if options.on_quota == "stop":
            raise SourceError(
                f"VirusTotal quota for this API key is used up (per {decision.scope}); stopped as configured "
                f"(on_quota=stop). Next slot in {decision.wait_seconds:.0f} s.",
                code="quota_exhausted",
            )
        checkpoint.wait(decision.wait_seconds, reason=f"quota_{decision.scope}")


def store_enrichment(*, run_id: int, indicator_id: int, source: str, result: dict[str, Any]) -> bool:
    """Write one result and its provenance; False when the indicator is gone (deleted meanwhile)."""
    now = timezone.now()
    with transaction.atomic():
        indicator = Indicator.objects.select_for_update().filter(pk=indicator_id).first()
        if indicator is None:
            return False
        IndicatorEnrichment.objects.get_or_create(
            run_id=run_id,
            indicator_id=indicator_id,
            defaults={
                "source": source,
                "previous_enrichment": indicator.enrichment or {},
                "previous_enriched_at": indicator.enriched_at,
                "enriched_at": now,
            },
        )
        indicator.enrichment = {
            **(indicator.enrichment or {}),
            source: {**result, "checked_at": now.isoformat()},
        }
        indicator.enriched_at = now
        indicator.save(update_fields=["enrichment", "enriched_at"])
    return True


def enrich(
    *,
    source: Enricher,
    options: EnrichSettings,
    limiter: Limiter,
    checkpoint: RunCheckpoint,
    on_selected: Callable[[int], None],
    store: Callable[[int, dict[str, Any]], None],
) -> None:
    """Look every selected indicator up; `store(indicator_id, result)` writes one result and the
    run's counters in one transaction (services/enrichment.py)."""
    checkpoint.stage("connecting")
    selected = select_indicators(options)
    on_selected(len(selected))
    quota_waits = 0
    for indicator_id, kind, value in selected:
        while True:
            checkpoint("before_enrichment")
            _take_quota(limiter, options, checkpoint)
            checkpoint.stage("enriching")
            try:
                result = source.lookup(kind, value)
            except SourceError as exc:
                if exc.code != "quota_exceeded":
                    raise
                quota_waits += 1
                if options.on_quota == "stop" or quota_waits > DEFAULT_MAX_QUOTA_WAITS:
                    raise SourceError(f"{exc.message} Stopped (on_quota={options.on_quota}).",
                                      code="quota_exhausted") from exc  # fmt: skip
                checkpoint.wait(options.quota_retry_seconds, reason="quota_exceeded")
                continue
            break
        with checkpoint.protected():
            store(indicator_id, result)
        checkpoint("after_enrichment")
