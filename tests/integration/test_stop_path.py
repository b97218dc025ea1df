"""What a stop waits for, and what it no longer waits for (docs/BENCHMARKS.md, "The stop path").

A stop_now ends the run without waiting for refused batches to roll back, yet none of them can
commit after it; the statement cancels go through one connection and never hit another session;
the cyclic collector does not run between a signal and the run's end."""

from __future__ import annotations

import gc
import threading
import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from threat_feeds.control.checkpoint import RunCheckpoint, RunInterrupted
from threat_feeds.models import FeedRun, StixObject, ThreatFeed
from threat_feeds.pipeline.runner import BatchReport, _Lane, _StatementCanceller, fewer_collections
from threat_feeds.pipeline.upsert import StoreWriter
from threat_feeds.pipeline.validate import validate_page
from threat_feeds.services.runs import _RunRecorder, run_finalize

pytestmark = pytest.mark.django_db(transaction=True)


def _objects(count: int, first: int = 0) -> list[dict[str, Any]]:
    return [
        {"type": "indicator", "spec_version": "2.1", "id": f"indicator--00000000-0000-4000-8000-{i:012d}",
         "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
         "pattern": f"[ipv4-addr:value = '10.9.{i // 256}.{i % 256}']", "pattern_type": "stix",
         "valid_from": "2024-01-01T00:00:00Z"}
        for i in range(first, first + count)
    ]  # fmt: skip


def _store(run: FeedRun, objects: list[dict[str, Any]]) -> None:
    with transaction.atomic():
        counts = StoreWriter(run_id=run.pk, feed_id=run.feed_id).write(validate_page(objects).valid)
        _RunRecorder(run).on_batch(BatchReport(counts=counts, fetched=len(objects)))


def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks and backend cancels: PostgreSQL only")


def test_a_stop_now_ends_the_run_while_a_refused_batch_is_in_flight_and_that_batch_cannot_commit() -> None:
    _postgres_only()
    feed = ThreatFeed.objects.create(name="in flight", source_type="stix_bundle")
    run = FeedRun.objects.create(feed=feed, status="stopping", cancel_mode="stop_now",
                                 cancel_requested_at=timezone.now())  # fmt: skip
    _store(run, _objects(3))
    in_batch, finalised = threading.Event(), threading.Event()
    outcome: list[BaseException | None] = []

    def batch() -> None:  # a real batch: its merge holds KEY SHARE on the run until it ends
        try:
            with transaction.atomic():
                counts = StoreWriter(run_id=run.pk, feed_id=feed.pk).write(
                    validate_page(_objects(3, 100)).valid
                )
                in_batch.set()
                assert finalised.wait(10)
                _RunRecorder(run).on_batch(BatchReport(counts=counts, fetched=3))
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            outcome.append(exc)
        finally:
            connection.close()

    holder = threading.Thread(target=batch)
    holder.start()
    try:
        assert in_batch.wait(10)
        acknowledged = timezone.now()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '300ms'")  # a wait for the batch would fail here
            status = run_finalize(run_id=run.pk, outcome="stopped", acknowledged_at=acknowledged,
                                  wait_for_batches=False)  # fmt: skip
        assert status == "stopped"
        # The finalisation that waits (reaper, escalation, cancel_job) still cannot pass the batch.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '300ms'")
            with pytest.raises(OperationalError):
                FeedRun.objects.select_for_update(of=("self",)).get(pk=run.pk)
    finally:
        finalised.set()
        holder.join(10)
    assert isinstance(outcome[0], RunInterrupted) and outcome[0].where == "run_no_longer_active"
    run.refresh_from_db()
    assert (run.status, run.fetched, run.created, run.objects_kept) == ("stopped", 3, 3, 3)
    assert run.cancel_acknowledged_at == acknowledged
    assert StixObject.objects.count() == 3  # the batch in flight rolled back whole


def test_a_stop_now_escalated_to_cancel_job_is_acknowledged_before_its_rollback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker stopped for stop_now; a cancel_job came in before its finalisation. The rollback
    may take seconds and the reaper escalates an unacknowledged cancel: the acknowledgement is
    committed before the rollback starts."""
    from threat_feeds.services import runs

    seen_during_rollback: list[Any] = []
    rollback = runs.run_rollback

    def observed_rollback(run_id: int) -> Any:
        def read() -> None:  # what the reaper would read meanwhile, from its own connection
            row = FeedRun.objects.values_list("cancel_acknowledged_at", flat=True).get(pk=run_id)
            seen_during_rollback.append(row)
            connection.close()

        reader = threading.Thread(target=read)
        reader.start()
        reader.join(10)
        return rollback(run_id)

    monkeypatch.setattr(runs, "run_rollback", observed_rollback)
    feed = ThreatFeed.objects.create(name="escalated", source_type="stix_bundle")
    run = FeedRun.objects.create(feed=feed, status="running")
    _store(run, _objects(4))
    FeedRun.objects.filter(pk=run.pk).update(status="cancelling", cancel_mode="cancel_job",
                                             cancel_requested_at=timezone.now())  # fmt: skip
    acknowledged = timezone.now() - timedelta(milliseconds=5)
    assert run_finalize(run_id=run.pk, outcome="stopped", acknowledged_at=acknowledged,
                        wait_for_batches=False) == "cancelled"  # fmt: skip
    assert seen_during_rollback == [acknowledged]
    run.refresh_from_db()
    assert run.cancel_acknowledged_at == acknowledged
    assert (run.objects_kept, run.objects_removed) == (0, 4)
    assert StixObject.objects.count() == 0


def _sleeping(dsn: dict[str, Any], seconds: float) -> tuple[psycopg.Connection, threading.Thread, list[Any]]:
    victim = psycopg.connect(**dsn, autocommit=True)
    result: list[Any] = []

    def sleep() -> None:
        started = time.monotonic()
        try:
            victim.execute("SELECT pg_sleep(%s)", (seconds,))
            result.append(("finished", time.monotonic() - started))
        except psycopg.errors.QueryCanceled:
            result.append(("cancelled", time.monotonic() - started))

    thread = threading.Thread(target=sleep)
    thread.start()
    time.sleep(0.2)  # the statement is running
    return victim, thread, result


def _backend(dsn: dict[str, Any], victim: psycopg.Connection) -> tuple[int, Any]:
    pid = victim.info.backend_pid
    with psycopg.connect(**dsn, autocommit=True) as probe:  # the victim is busy sleeping
        row = probe.execute("SELECT backend_start FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    assert row is not None
    return pid, row[0]


def test_statement_cancels_hit_the_lanes_backend_and_never_a_pid_reused_by_another_session() -> None:
    _postgres_only()
    params = connection.get_connection_params()
    dsn = {k: v for k, v in params.items() if k in ("dbname", "user", "password", "host", "port")}
    canceller = _StatementCanceller()
    canceller.open()
    try:
        victim, thread, result = _sleeping(dsn, 1.0)
        pid, started = _backend(dsn, victim)
        # Same pid, another start time: the session that once had this pid, not this one.
        canceller.cancel(
            [_Lane(raw_connection=victim, backend=(pid, started - timedelta(seconds=1)), in_batch=True)]
        )
        thread.join(5)
        assert result == [("finished", pytest.approx(1.0, abs=0.5))]
        victim.close()

        victim, thread, result = _sleeping(dsn, 5)
        canceller.cancel([_Lane(raw_connection=victim, backend=_backend(dsn, victim), in_batch=True)])
        thread.join(5)
        assert result[0][0] == "cancelled" and result[0][1] < 1.0
        victim.close()
    finally:
        canceller.close()


def test_no_cyclic_collection_between_a_stop_signal_and_the_end_of_the_run() -> None:
    before = gc.get_threshold()
    checkpoint = RunCheckpoint()
    with fewer_collections(checkpoint):
        assert gc.isenabled() and gc.get_threshold()[0] >= 50_000
        checkpoint.signal("stop_now")
        assert not gc.isenabled()  # until the run is terminal
    assert gc.isenabled() and gc.get_threshold() == before
