"""A cancel that arrives between two statements of a batch (no statement in flight for PostgreSQL to
cancel) stops the batch at its next statement: nothing of it is stored, the run learns why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from threat_feeds.control.checkpoint import RunCheckpoint, RunInterrupted
from threat_feeds.models import FeedRun, ObjectProvenance, StixObject, ThreatFeed
from threat_feeds.pipeline.runner import ingest
from threat_feeds.pipeline.upsert import BatchCounts, StoreWriter
from threat_feeds.pipeline.validate import validate_page
from threat_feeds.services.runs import _RunRecorder
from threat_feeds.sources.base import FeedConfig
from threat_feeds.sources.stix_bundle import StixBundleSource

pytestmark = pytest.mark.django_db(transaction=True)


def _objects(count: int) -> list[dict[str, Any]]:
    return [
        {"type": "indicator", "spec_version": "2.1", "id": f"indicator--00000000-0000-4000-8000-{i:012d}",
         "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
         "pattern": f"[ipv4-addr:value = '10.0.{i // 256}.{i % 256}']", "pattern_type": "stix",
         "valid_from": "2024-01-01T00:00:00Z"}
        for i in range(count)
    ]  # fmt: skip


def _bundle(path: Path, count: int) -> Path:
    path.write_text(json.dumps({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000",
                                "objects": _objects(count)}))  # fmt: skip
    return path


class _SignalledMidBatch(StoreWriter):
    """Runs one statement of its own, then the cancel arrives, then the real write's statements."""

    def __init__(self, checkpoint: RunCheckpoint, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.checkpoint = checkpoint
        self.batches = 0

    def write(self, batch: list[Any]) -> BatchCounts:
        self.batches += 1
        if self.batches == 2:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            self.checkpoint.signal("stop_now")
        return super().write(batch)


def test_a_signal_between_statements_rolls_the_batch_back(tmp_path: Path, django_user_model: Any) -> None:
    feed = ThreatFeed.objects.create(
        name="bundle", source_type="stix_bundle", owner=django_user_model.objects.create_user("u")
    )
    run = FeedRun.objects.create(feed=feed, status="running")
    config = FeedConfig(source_type="stix_bundle", url="", page_size=100,
                        settings={"upload_path": str(_bundle(tmp_path / "b.json", 300))})  # fmt: skip
    checkpoint = RunCheckpoint()
    writer = _SignalledMidBatch(checkpoint, run_id=run.pk, feed_id=feed.pk)
    with pytest.raises(RunInterrupted) as stopped:
        ingest(source=StixBundleSource(config, checkpoint), cursor={}, writer=writer, checkpoint=checkpoint,
               on_batch=_RunRecorder(run).on_batch, batch_size=100, lanes=1)  # fmt: skip
    assert stopped.value.where == "batch_interrupted"
    run.refresh_from_db()
    # One store thread (lanes=1), so the second batch starts only after the first committed.
    # The first batch committed; the second was refused at its first statement after the signal.
    assert (run.fetched, run.created, run.pages) == (100, 100, 1)
    assert StixObject.objects.count() == 100
    assert ObjectProvenance.objects.filter(run=run).count() == 100


def test_a_cancel_is_recorded_mid_batch_while_finalisation_waits_for_the_batch(
    django_user_model: Any,
) -> None:
    """The batch's KEY SHARE lock on its run: a cancel (FOR NO KEY UPDATE) does not wait for the
    batch, so it is announced at once; finalisation (FOR UPDATE) does, so it never interleaves."""
    import threading

    from django.db import OperationalError, transaction

    from threat_feeds.control.cancellation import feed_run_cancel

    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL only (SQLite locks the whole database)")
    owner = django_user_model.objects.create_user("owner")
    feed = ThreatFeed.objects.create(name="locks", source_type="stix_bundle", owner=owner)
    run = FeedRun.objects.create(feed=feed, status="running", requested_by=owner)
    in_batch, release = threading.Event(), threading.Event()

    def batch() -> None:  # a real batch, its transaction held open as if its merge were running
        try:
            with transaction.atomic():
                StoreWriter(run_id=run.pk, feed_id=feed.pk).write(validate_page(_objects(3)).valid)
                in_batch.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=batch)
    holder.start()
    try:
        assert in_batch.wait(10)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '300ms'")
            with pytest.raises(OperationalError):  # finalisation's lock waits for the batch
                FeedRun.objects.select_for_update(of=("self",)).get(pk=run.pk)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '2s'")
            stopped = feed_run_cancel(run_id=run.pk, user=owner, mode="stop_now", reason="mid batch")
        assert stopped.status == "stopping"
    finally:
        release.set()
        holder.join(10)
    assert FeedRun.objects.get(pk=run.pk).cancel_requested_at is not None
