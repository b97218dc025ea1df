"""Undo of finished runs against a real worker: the store ends as if the run never happened (SPEC §5)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.helpers import demo_server, run_reached, store_snapshot, taxii_feed, wait_until
from threat_feeds.models import ObjectProvenance, StixObject, StixObjectVersion
from threat_feeds.services.runs import feed_run_start

pytestmark = pytest.mark.django_db(transaction=True)


def _undo(api: Any, run: Any, reason: str = "test") -> dict[str, Any]:
    response = api.post(f"/api/threat-feeds/tasks/{run.task_id}/undo/", {"reason": reason}, format="json")
    assert response.status_code == 202, response.content
    return response.json()


def _content(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The store's content, without the run ids that provenance names."""
    return {key: snapshot[key] for key in ("objects", "modified", "indicators")}


def test_undo_removes_what_only_the_run_provided_and_keeps_what_an_overlapping_run_provides(
    api: Any, user: Any, celery_worker: Any, wait_for_run: Any
) -> None:
    with demo_server(objects=400) as small, demo_server(objects=1000) as big:
        feed_b = taxii_feed(small, name="B: 400 objects", owner=user)
        feed_a = taxii_feed(big, name="A: 1000 objects, B's 400 among them", owner=user)

        # What B alone gives; then undo it, which as the feed's latest run also rewinds its cursor.
        b_alone = wait_for_run(feed_run_start(feed=feed_b, user=user).pk)
        assert b_alone.status == "completed" and b_alone.created == 400
        only_b = store_snapshot()
        feed_b.refresh_from_db()
        assert feed_b.cursor == b_alone.cursor_after != {}
        undone = _undo(api, b_alone, "measure B alone")
        assert undone["status"] == "undone" and undone["undo"]["cursor_restored"] is True
        assert undone["undo"]["objects_removed"] == 400 and undone["undo"]["requested_by"] == user.username
        feed_b.refresh_from_db()
        assert feed_b.cursor == b_alone.cursor_before == {}
        assert StixObject.objects.count() == 0 and not ObjectProvenance.objects.exists()

        run_a = wait_for_run(feed_run_start(feed=feed_a, user=user).pk)
        assert run_a.status == "completed" and run_a.created == 1000
        run_b = wait_for_run(feed_run_start(feed=feed_b, user=user).pk)
        assert run_b.status == "completed" and run_b.fetched == 400  # read from the start again
        assert run_b.unchanged == 400  # A had delivered all of them first

    undone = _undo(api, run_a, "wrong collection")
    assert undone["status"] == "undone" and undone["undo"]["objects_removed"] == 600
    assert undone["undo"]["cursor_restored"] is True  # A is its feed's latest run
    after = store_snapshot()
    assert _content(after) == _content(only_b)  # A's own 600 are gone, all of B's 400 are there
    assert {(run_id, stix_id) for run_id, stix_id, _version, _action in after["object_links"]} == {
        (run_b.pk, stix_id) for stix_id in only_b["objects"]
    }
    assert after["indicator_links"] == only_b["indicator_links"]
    feed_a.refresh_from_db()
    feed_b.refresh_from_db()
    assert feed_a.cursor == {} and feed_b.cursor == run_b.cursor_after != {}

    again = api.post(f"/api/threat-feeds/tasks/{run_a.task_id}/undo/", {"reason": "again"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "run_already_undone"
    assert _content(store_snapshot()) == _content(only_b)


def test_undo_restores_the_versions_the_run_replaced(
    api: Any, user: Any, celery_worker: Any, wait_for_run: Any
) -> None:
    with demo_server(objects=300) as first_edition:
        base = taxii_feed(first_edition, name="edition 1", owner=user)
        assert wait_for_run(feed_run_start(feed=base, user=user).pk).status == "completed"
    before = store_snapshot()
    # Edition 2 re-issues one object in ten with a newer `modified`.
    with demo_server(objects=300, version=2) as second_edition:
        feed = taxii_feed(second_edition, name="edition 2", owner=user)
        run = wait_for_run(feed_run_start(feed=feed, user=user).pk)
    assert run.status == "completed" and run.updated > 0
    assert StixObject.objects.exclude(modified__in=before["modified"].values()).exists()

    undo = _undo(api, run)["undo"]
    assert undo["objects_restored"] == run.updated and undo["objects_removed"] == 0
    assert store_snapshot() == before
    assert StixObjectVersion.objects.count() == StixObject.objects.count()  # edition 2's versions went


def test_undo_of_a_stopped_run_lets_the_next_run_start_over(
    api: Any, user: Any, celery_worker: Any, wait_for_run: Any
) -> None:
    with demo_server(objects=1500, page_max=100, delay=0.1) as server:
        feed = taxii_feed(server, name="paced", owner=user)
        run = feed_run_start(feed=feed, user=user)
        wait_until(lambda: run_reached(run.pk, pages=3))
        response = api.post(
            f"/api/threat-feeds/cancel-task/{run.task_id}/", {"mode": "stop_now"}, format="json"
        )
        assert response.status_code == 202
        run = wait_for_run(run.pk)
        assert run.status == "stopped" and StixObject.objects.count() == run.created > 0

        undone = _undo(api, run, "stopped half way; start over")
        assert (
            undone["status"] == "undone" and undone["cancellation"]["mode"] == "stop_now"
        )  # both records kept
        assert undone["undo"]["objects_removed"] == run.created and undone["undo"]["cursor_restored"] is True
        assert StixObject.objects.count() == 0
        feed.refresh_from_db()
        assert feed.cursor == {}

        again = wait_for_run(feed_run_start(feed=feed, user=user).pk)
    assert again.status == "completed" and again.cursor_before == {}
    assert again.fetched == again.created == StixObject.objects.count() == 1500


def test_a_run_starts_from_the_cursor_as_committed_not_as_the_caller_last_saw_it(user: Any) -> None:
    """An undo that rewinds the cursor between the caller loading the feed and starting a run: the
    run must resume from the rewound cursor (read under the feed's lock), or it would skip what
    the undo removed."""
    from threat_feeds.control.cancellation import feed_run_cancel
    from threat_feeds.models import ThreatFeed

    with demo_server(objects=10) as server:
        feed = taxii_feed(server, name="stale", owner=user)
        ThreatFeed.objects.filter(pk=feed.pk).update(cursor={"added_after": "2024-05-01T00:00:00.000000Z"})
        stale = ThreatFeed.objects.get(pk=feed.pk)
        ThreatFeed.objects.filter(pk=feed.pk).update(cursor={})  # the undo, committed meanwhile
        run = feed_run_start(feed=stale, user=user)
        feed_run_cancel(run_id=run.pk, user=None, mode="stop_now", reason="never to run")  # queued: revoked
    assert run.cursor_before == {}
