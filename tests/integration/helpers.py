"""Helpers for integration tests: demo TAXII servers, feeds, and snapshots of the store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from threat_feeds.choices import RunStatus
from threat_feeds.demo.config import ServerConfig
from threat_feeds.demo.taxii_server import RunningServer, start_in_thread
from threat_feeds.models import (
    FeedRun,
    Indicator,
    IndicatorProvenance,
    ObjectProvenance,
    StixObject,
    StixObjectVersion,
    ThreatFeed,
)


@contextmanager
def demo_server(**options: Any) -> Iterator[RunningServer]:
    server = start_in_thread(ServerConfig(**options))
    try:
        yield server
    finally:
        server.stop()


def taxii_feed(server: RunningServer, *, name: str, owner: Any = None, page_size: int = 100) -> ThreatFeed:
    return ThreatFeed.objects.create(
        name=name,
        source_type="taxii21",
        url=server.api_root_url,
        collection_id=server.collection_id,
        page_size=page_size,
        owner=owner,
    )


def store_snapshot() -> dict[str, Any]:
    """Everything a run may change in the store, in comparable form."""
    return {
        "objects": dict(StixObject.objects.values_list("stix_id", "data")),
        "modified": dict(StixObject.objects.values_list("stix_id", "modified")),
        "indicators": set(Indicator.objects.values_list("kind", "value")),
        "versions": set(StixObjectVersion.objects.values_list("stix_object__stix_id", "version_key")),
        "object_links": set(
            ObjectProvenance.objects.values_list(
                "run_id", "stix_object__stix_id", "version__version_key", "action"
            )
        ),
        "indicator_links": IndicatorProvenance.objects.count(),
    }


def wait_until(predicate: Any, *, timeout: float = 60, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


def run_reached(run_id: int, *, pages: int = 0, stage: str | None = None) -> FeedRun | None:
    run = FeedRun.objects.get(pk=run_id)
    assert run.status not in RunStatus.terminal() or run.pages >= pages, (run.status, run.error_message)
    if run.status == RunStatus.RUNNING and run.pages >= pages and (stage is None or run.stage == stage):
        return run
    return None


def ingest_bundle_file(path: Any, feed: ThreatFeed, *, page_size: int = 1000) -> FeedRun:
    """One completed run of `feed` storing the bundle file at `path` through the real pipeline, in process."""
    from threat_feeds.control.checkpoint import RunCheckpoint
    from threat_feeds.pipeline.runner import ingest
    from threat_feeds.pipeline.upsert import StoreWriter
    from threat_feeds.services.runs import _RunRecorder
    from threat_feeds.sources.base import FeedConfig
    from threat_feeds.sources.stix_bundle import StixBundleSource

    run = FeedRun.objects.create(feed=feed, status=RunStatus.RUNNING)
    config = FeedConfig(
        source_type="stix_bundle", url="", page_size=page_size, settings={"upload_path": str(path)}
    )
    checkpoint = RunCheckpoint()
    ingest(
        source=StixBundleSource(config, checkpoint),
        cursor={},
        writer=StoreWriter(run_id=run.pk, feed_id=feed.pk),
        checkpoint=checkpoint,
        on_batch=_RunRecorder(run).on_batch,
    )
    run.refresh_from_db()
    run.status = RunStatus.COMPLETED
    run.save(update_fields=["status"])
    return run
