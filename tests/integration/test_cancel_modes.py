"""stop_now and cancel_job against a real worker, real Redis and the real database (SPEC §5)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.integration.helpers import demo_server, run_reached, store_snapshot, taxii_feed, wait_until
from threat_feeds.models import FeedRun, ObjectProvenance, StixObject, StixObjectVersion, ThreatFeed
from threat_feeds.services.runs import feed_run_start

pytestmark = pytest.mark.django_db(transaction=True)


def _cancel(api: Any, run: FeedRun, mode: str, reason: str = "test") -> dict[str, Any]:
    response = api.post(
        f"/api/threat-feeds/cancel-task/{run.task_id}/", {"mode": mode, "reason": reason}, format="json"
    )
    assert response.status_code == 202, response.content
    return response.json()


def test_stop_now_keeps_what_was_stored_and_the_next_run_resumes(
    api: Any, user: Any, celery_worker: Any, wait_for_run: Any
) -> None:
    with demo_server(objects=3000, page_max=100, delay=0.15) as server:
        feed = taxii_feed(server, name="paced", owner=user)
        run = feed_run_start(feed=feed, user=user)
        wait_until(lambda: run_reached(run.pk, pages=3))
        snapshot = _cancel(api, run, "stop_now", "enough for today")
        assert snapshot["status"] in ("stopping", "stopped")  # the worker may already have stopped
        run = wait_for_run(run.pk)
        assert run.status == "stopped"
        assert 3 <= run.pages < 30
        assert run.objects_kept == run.created == StixObject.objects.count() == run.fetched
        assert run.cancel_reason == "enough for today" and run.cancel_requested_by == user
        assert run.cancel_acknowledged_at is not None and run.cancel_latency_ms is not None
        feed.refresh_from_db()
        assert feed.cursor == run.cursor_after != {}

        second = wait_for_run(feed_run_start(feed=feed, user=user).pk)
    assert second.status == "completed"
    assert second.cursor_before == run.cursor_after
    # Resumed from just before the last stored instant: only the object at that instant comes twice.
    assert second.fetched == 3000 - run.fetched + 1 and second.unchanged == 1
    assert StixObject.objects.count() == 3000 == run.created + second.created


def test_cancel_job_leaves_the_store_exactly_as_before(
    api: Any, user: Any, celery_worker: Any, wait_for_run: Any
) -> None:
    with demo_server(objects=600) as small:
        baseline_feed = taxii_feed(small, name="baseline", owner=user)
        assert wait_for_run(feed_run_start(feed=baseline_feed, user=user).pk).status == "completed"
    before = store_snapshot()
    assert len(before["objects"]) == 600 and before["indicators"]

    with demo_server(objects=3000, page_max=100, delay=0.15) as server:
        feed = taxii_feed(server, name="to be cancelled", owner=user)
        run = feed_run_start(feed=feed, user=user)
        wait_until(lambda: run_reached(run.pk, pages=9))
        _cancel(api, run, "cancel_job", "wrong feed")
        run = wait_for_run(run.pk)
    assert run.status == "cancelled"
    assert run.created > 0 and run.unchanged == 600  # overlapping objects were provided by the baseline too
    assert run.objects_removed == run.created and run.objects_kept == 0
    assert store_snapshot() == before
    assert not ObjectProvenance.objects.filter(run=run).exists()
    feed.refresh_from_db()
    assert feed.cursor == {}
    snapshot = api.get(f"/api/threat-feeds/task-status/{run.task_id}/").json()
    assert snapshot["cancellation"]["mode"] == "cancel_job"
    assert snapshot["cancellation"]["objects_removed"] == run.created
    assert snapshot["cancellation"]["requested_by"] == user.username


def test_cancel_job_restores_previous_versions(
    api: Any, user: Any, celery_worker: Any, wait_for_run: Any
) -> None:
    with demo_server(objects=300, page_max=100) as first_edition:
        base = taxii_feed(first_edition, name="edition 1", owner=user)
        assert wait_for_run(feed_run_start(feed=base, user=user).pk).status == "completed"
    before = store_snapshot()
    # Edition 2 re-issues one object in ten with a newer `modified`, listed after the base objects;
    # the server stalls before its last page so the run is caught mid-way.
    with demo_server(objects=300, version=2, page_max=10, stall_after_pages=31) as server:
        feed = taxii_feed(server, name="edition 2", owner=user, page_size=10)
        run = feed_run_start(feed=feed, user=user)
        wait_until(lambda: run_reached(run.pk, pages=31))
        assert FeedRun.objects.get(pk=run.pk).updated > 0
        assert StixObject.objects.exclude(modified__in=before["modified"].values()).exists()
        _cancel(api, run, "cancel_job")
        run = wait_for_run(run.pk, timeout=20)
    assert run.status == "cancelled"
    assert run.objects_restored == run.updated > 0 and run.objects_removed == 0
    assert store_snapshot() == before
    assert StixObjectVersion.objects.count() == StixObject.objects.count()  # edition 2's versions went


MODES = [("stop_now", "stopped"), ("cancel_job", "cancelled")]


@pytest.mark.parametrize(("mode", "final"), MODES)
def test_cancel_interrupts_a_stalled_read(
    api: Any, user: Any, celery_worker: Any, wait_for_run: Any, mode: str, final: str
) -> None:
    # The server accepts the 4th page request and never answers; the source's socket timeout is 30 s.
    with demo_server(objects=2000, page_max=100, stall_after_pages=3) as server:
        feed = taxii_feed(server, name="stalling", owner=user)
        run = feed_run_start(feed=feed, user=user)
        wait_until(lambda: run_reached(run.pk, pages=3, stage="fetching"))
        time.sleep(0.3)  # now blocked inside the read
        _cancel(api, run, mode)
        run = wait_for_run(run.pk, timeout=10)  # far below the 30 s socket timeout
    assert run.status == final and run.pages == 3
    assert StixObject.objects.count() == (300 if mode == "stop_now" else 0)


@pytest.mark.parametrize(("mode", "final"), MODES)
def test_cancel_during_retry_after_wait(
    api: Any, user: Any, celery_worker: Any, wait_for_run: Any, mode: str, final: str
) -> None:
    with demo_server(objects=2000, page_max=100, retry_after_every=3, retry_after_seconds=120) as server:
        feed = taxii_feed(server, name="rate limited", owner=user)
        run = feed_run_start(feed=feed, user=user)
        wait_until(lambda: run_reached(run.pk, pages=2, stage="waiting"))
        _cancel(api, run, mode)
        run = wait_for_run(run.pk, timeout=10)  # far below the 120 s Retry-After
    assert run.status == final
    assert StixObject.objects.count() == (run.created if mode == "stop_now" else 0)


@pytest.mark.parametrize(("mode", "final"), MODES)
def test_cancel_mid_batch_never_leaves_half_a_batch(
    api: Any, user: Any, celery_worker: Any, wait_for_run: Any, mode: str, final: str
) -> None:
    before = store_snapshot()
    with demo_server(objects=30000, page_max=1000) as server:
        feed = taxii_feed(server, name="big pages", owner=user, page_size=1000)
        run = feed_run_start(feed=feed, user=user)
        wait_until(lambda: run_reached(run.pk, pages=1, stage="storing"), interval=0.005)
        _cancel(api, run, mode)
        run = wait_for_run(run.pk, timeout=20)
    assert run.status == final
    assert run.fetched % 1000 == 0 and run.pages == run.fetched // 1000  # whole batches only
    if mode == "stop_now":
        assert StixObject.objects.count() == run.created == run.objects_kept
        feed.refresh_from_db()
        assert feed.cursor == run.cursor_after
    else:
        assert store_snapshot() == before


def test_cancelled_queued_run_never_starts(api: Any, user: Any, celery_worker: Any) -> None:
    from crisp.celery import app

    with demo_server(objects=200) as server:
        feed = taxii_feed(server, name="queued", owner=user)
        parked = f"{celery_worker['queue']}-parked"
        app.conf.task_default_queue = parked  # a queue no worker consumes yet: the run stays queued
        try:
            run = feed_run_start(feed=feed, user=user)
        finally:
            app.conf.task_default_queue = celery_worker["queue"]
        time.sleep(0.5)
        assert FeedRun.objects.get(pk=run.pk).status == "queued"
        snapshot = _cancel(api, run, "stop_now")
        assert snapshot["status"] == "cancelled"
        # Now let the worker consume the parked queue: the task arrives and must not start the run.
        app.control.add_consumer(parked, destination=[celery_worker["name"]], reply=True)
        try:
            time.sleep(2.0)
        finally:
            app.control.cancel_consumer(parked, destination=[celery_worker["name"]], reply=True)
    run.refresh_from_db()
    assert run.status == "cancelled" and run.started_at is None
    assert StixObject.objects.count() == 0
    assert ThreatFeed.objects.get(pk=feed.pk).cursor == {}
