"""Two store lanes (threads with their own PostgreSQL connections) commit batches out of order; the
run's pages and cursor still follow the feed's order, and a stopped run keeps a prefix of the feed
(pipeline/runner.py `_StoreBehind`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from django.db import connection, transaction

from threat_feeds.control.checkpoint import RunCheckpoint, RunInterrupted
from threat_feeds.models import FeedRun, StixObject, ThreatFeed
from threat_feeds.pipeline.runner import BatchReport, ingest
from threat_feeds.pipeline.upsert import BatchCounts, PreparedBatch, StoreWriter
from threat_feeds.services.runs import _RunRecorder
from threat_feeds.sources.base import Page

pytestmark = pytest.mark.django_db(transaction=True)
PAGE = 100


def _ids(first: int, count: int) -> list[str]:
    return [f"indicator--00000000-0000-4000-8000-{i:012d}" for i in range(first, first + count)]


class _Pages:
    """Three pages of 100 indicators, each page one batch, with cursors {"page": n}."""

    def pages(self, cursor: Mapping[str, Any]) -> Iterator[Page]:
        for n in range(3):
            objects = [
                {"type": "indicator", "spec_version": "2.1", "id": stix_id,
                 "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
                 "pattern": f"[ipv4-addr:value = '10.1.{n}.{i}']", "pattern_type": "stix",
                 "valid_from": "2024-01-01T00:00:00Z"}
                for i, stix_id in enumerate(_ids(n * PAGE, PAGE))
            ]  # fmt: skip
            yield Page(objects=objects, cursor={"page": n}, total_expected=1000 * (n + 1))


class _OutOfOrder(StoreWriter):
    """Holds the first batch until the second has committed; `hold_third` holds the third until
    the run is signalled."""

    def __init__(self, checkpoint: RunCheckpoint, *, stop_after_second: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.checkpoint = checkpoint
        self.stop_after_second = stop_after_second  # "" or the mode to signal
        self.second_committed = threading.Event()
        self.signalled = threading.Event()
        self.seen_while_held: tuple[int, Any] | None = None

    def write(self, batch: Any) -> BatchCounts:
        assert isinstance(batch, PreparedBatch)
        first_id = batch.objects.split("\t", 1)[0]
        if first_id == _ids(0, 1)[0]:
            assert self.second_committed.wait(20)
            # What a reader sees while page 0 is in flight.
            self.seen_while_held = FeedRun.objects.values_list("pages", "cursor_after").get(pk=self.run_id)
            if self.stop_after_second:
                self.checkpoint.signal(self.stop_after_second)
                self.signalled.set()
        elif first_id == _ids(2 * PAGE, 1)[0] and self.stop_after_second:
            assert self.signalled.wait(20)
        return super().write(batch)


def _run(
    stop_after_second: str,
) -> tuple[FeedRun, _OutOfOrder, list[dict[str, Any] | None], BaseException | None]:
    if connection.vendor != "postgresql":
        pytest.skip("two store lanes: PostgreSQL only (SQLite has one writer at a time)")
    feed = ThreatFeed.objects.create(name="lanes", source_type="taxii21")
    run = FeedRun.objects.create(feed=feed, status="running")
    checkpoint = RunCheckpoint()
    writer = _OutOfOrder(checkpoint, stop_after_second=stop_after_second, run_id=run.pk, feed_id=feed.pk)
    recorder = _RunRecorder(run)
    cursors: list[dict[str, Any] | None] = []

    def on_batch(report: BatchReport) -> None:
        recorder.on_batch(report)
        if report.pages:
            transaction.on_commit(lambda: cursors.append(report.page_cursor))
        if report.fetched and report.counts.created and _ids(PAGE, 1)[0] in _stored_ids(run):
            transaction.on_commit(writer.second_committed.set)

    error = None
    try:
        ingest(source=_Pages(), cursor={}, writer=writer, checkpoint=checkpoint, on_batch=on_batch,  # type: ignore[arg-type]
               batch_size=PAGE, lanes=2)  # fmt: skip
    except RunInterrupted as exc:
        error = exc
    run.refresh_from_db()
    return run, writer, cursors, error


def _stored_ids(run: FeedRun) -> set[str]:
    return set(StixObject.objects.filter(provenance__run=run).values_list("stix_id", flat=True))


def test_pages_and_cursor_follow_the_feed_when_batches_commit_out_of_order() -> None:
    run, writer, cursors, error = _run(stop_after_second="")
    assert error is None
    # Page 1 committed first, yet while page 0 was in flight the run counted no page, moved no cursor.
    assert writer.seen_while_held == (0, {})
    # Recorded in the feed's order, never backwards (pages 1 and 2 may be recorded together).
    pages = [c["page"] for c in cursors if c is not None]
    assert pages[0] == 0 and pages[-1] == 2 and pages == sorted(set(pages))
    assert (run.pages, run.fetched, run.created, run.cursor_after) == (3, 300, 300, {"page": 2})
    assert ThreatFeed.objects.get(pk=run.feed_id).cursor == {"page": 2}
    assert StixObject.objects.count() == 300


def test_a_stop_keeps_a_prefix_of_the_feed() -> None:
    """Signalled while page 0 is in flight and page 1 already committed: page 0 fills the gap and
    commits, page 2 is refused, so the run keeps exactly pages 0-1 and its cursor says so."""
    run, _writer, cursors, error = _run(stop_after_second="stop_now")
    assert isinstance(error, RunInterrupted) and error.mode == "stop_now"
    assert set(StixObject.objects.values_list("stix_id", flat=True)) == set(_ids(0, 2 * PAGE))
    assert (run.pages, run.fetched, run.created, run.cursor_after) == (2, 200, 200, {"page": 1})
    assert cursors == [{"page": 0}, {"page": 1}]
    assert run.total_expected == 2000  # page 1's: page 0, committed after it, does not take it back


def test_a_cancel_job_lets_no_batch_finish() -> None:
    """The same moment with cancel_job: the run is undone whole anyway, so page 0 is not left to
    fill the gap; only page 1 (committed before the signal) is in the store for rollback to remove."""
    run, _writer, cursors, error = _run(stop_after_second="cancel_job")
    assert isinstance(error, RunInterrupted) and error.mode == "cancel_job"
    assert set(StixObject.objects.values_list("stix_id", flat=True)) == set(_ids(PAGE, PAGE))
    assert (run.pages, run.fetched, run.cursor_after) == (0, 100, {})
    assert cursors == []


class _SlowFirstBatch(StoreWriter):
    def write(self, batch: Any) -> BatchCounts:
        if isinstance(batch, PreparedBatch) and _SCO in batch.ids and "a.example" in batch.objects:
            time.sleep(0.5)  # the first page's batch is slow: the second lane is free meanwhile
        return super().write(batch)


_SCO = "domain-name--00000000-0000-4000-8000-000000000001"


class _SameObjectTwice:
    """Two pages, each the same domain-name SCO (no `modified`: versions rank by delivery) with a
    different value, then 99 indicators."""

    def pages(self, cursor: Mapping[str, Any]) -> Iterator[Page]:
        for n, value in enumerate(("a.example", "b.example")):
            sco = {"type": "domain-name", "spec_version": "2.1", "id": _SCO, "value": value}
            indicators = [
                {"type": "indicator", "spec_version": "2.1", "id": stix_id,
                 "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
                 "pattern": f"[ipv4-addr:value = '10.2.{n}.{i}']", "pattern_type": "stix",
                 "valid_from": "2024-01-01T00:00:00Z"}
                for i, stix_id in enumerate(_ids(1000 + n * PAGE, PAGE - 1))
            ]  # fmt: skip
            yield Page(objects=[sco, *indicators], cursor={"page": n})


def test_a_run_stores_the_versions_of_one_object_in_feed_order() -> None:
    """The batch with the later version waits for the batch with the earlier one, even though the
    earlier one is slow and a lane is free: the version delivered last is current."""
    if connection.vendor != "postgresql":
        pytest.skip("two store lanes: PostgreSQL only (SQLite has one writer at a time)")
    feed = ThreatFeed.objects.create(name="lanes", source_type="taxii21")
    run = FeedRun.objects.create(feed=feed, status="running")
    checkpoint = RunCheckpoint()
    ingest(source=_SameObjectTwice(), cursor={}, writer=_SlowFirstBatch(run_id=run.pk, feed_id=feed.pk),  # type: ignore[arg-type]
           checkpoint=checkpoint, on_batch=_RunRecorder(run).on_batch, batch_size=PAGE, lanes=2)  # fmt: skip
    assert StixObject.objects.get(stix_id=_SCO).data["value"] == "b.example"
    run.refresh_from_db()
    assert (run.pages, run.created, run.updated) == (2, 1 + 2 * (PAGE - 1), 1)
