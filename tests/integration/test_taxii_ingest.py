"""End to end: a real worker ingests the MITRE ATT&CK ICS bundle from a real medallion TAXII 2.1 server."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import load_json
from tests.peers.medallion_server import medallion_server
from threat_feeds.models import FeedRun, ObjectProvenance, StixObject, ThreatFeed

pytestmark = pytest.mark.django_db(transaction=True)
ICS = "attack/attack-ics-v18.1-stix21.json.gz"


@pytest.fixture(scope="module")
def ics_objects(datasets: Path) -> list[dict[str, Any]]:
    return load_json(datasets / ICS)["objects"]


def _create_feed(api: Any, server: Any, name: str, page_size: int = 100) -> dict[str, Any]:
    response = api.post(
        "/api/threat-feeds/",
        {
            "name": name,
            "source_type": "taxii21",
            "url": server.api_root_url,
            "collection_id": server.collection_id,
            "username": server.username,
            "password": server.password,
            "page_size": page_size,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert "password" not in body and "username" not in body
    assert body["credentials"] == {"username": True, "password": True, "api_key": False}
    return body


def _consume(api: Any, feed_id: int, wait_for_run: Any) -> dict[str, Any]:
    response = api.post(f"/api/threat-feeds/{feed_id}/consume/")
    assert response.status_code == 202, response.content
    snapshot = response.json()
    assert snapshot["status"] in ("queued", "running")
    wait_for_run(snapshot["run_id"])
    final = api.get(f"/api/threat-feeds/task-status/{snapshot['task_id']}/")
    assert final.status_code == 200
    return final.json()


def test_taxii_feed_is_ingested_exactly_and_deduplicated(
    api: Any, celery_worker: Any, wait_for_run: Any, ics_objects: list, manifest: dict, tmp_path: Path
) -> None:
    with medallion_server(ics_objects, tmp_path) as server:
        feed = _create_feed(api, server, "ICS over TAXII")
        first = _consume(api, feed["id"], wait_for_run)
        assert first["status"] == "completed", first
        progress = first["progress"]
        assert progress["fetched"] == progress["created"] == 1826
        assert progress["invalid"] == 0 and progress["updated"] == 0
        assert progress["pages"] == 19  # 1826 objects, medallion's page size 100
        by_type = Counter(StixObject.objects.values_list("type", flat=True))
        assert dict(by_type) == manifest[ICS]["by_type"]
        stored = dict(StixObject.objects.values_list("stix_id", "data"))
        assert stored == {obj["id"]: obj for obj in ics_objects}

        # The cursor now points at the last page's instant: a second run of the feed re-reads only
        # the object(s) of that instant, which are unchanged.
        again = _consume(api, feed["id"], wait_for_run)
        assert again["status"] == "completed"
        assert again["cursor_before"] == first["cursor_after"] != {}
        assert again["progress"]["fetched"] == again["progress"]["unchanged"] == 1

        # A second feed over the same collection duplicates nothing and adds its own provenance.
        other = _create_feed(api, server, "ICS mirror", page_size=1000)  # medallion clamps to 100
        mirror = _consume(api, other["id"], wait_for_run)
        assert mirror["status"] == "completed"
        assert mirror["progress"]["unchanged"] == 1826 and mirror["progress"]["created"] == 0
        assert StixObject.objects.count() == 1826
        assert ObjectProvenance.objects.filter(run_id=mirror["run_id"]).count() == 1826

    detail = api.get(f"/api/stix-objects/{StixObject.objects.first().pk}/").json()
    assert {link["feed"]["name"] for link in detail["provenance_links"]} == {"ICS over TAXII", "ICS mirror"}


def test_run_resumes_from_cursor_when_the_collection_grows(
    api: Any, celery_worker: Any, wait_for_run: Any, ics_objects: list, tmp_path: Path
) -> None:
    first_part = ics_objects[:1000]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with medallion_server(first_part, tmp_path / "a") as server:
        feed = _create_feed(api, server, "growing collection")
        first = _consume(api, feed["id"], wait_for_run)
    assert first["progress"]["created"] == 1000
    # Same collection, later: 826 more objects were added after the cursor.
    with medallion_server(ics_objects, tmp_path / "b") as server:
        response = api.patch(f"/api/threat-feeds/{feed['id']}/", {"url": server.api_root_url}, format="json")
        assert response.status_code == 200, response.content
        second = _consume(api, feed["id"], wait_for_run)
    assert second["status"] == "completed"
    assert second["progress"]["fetched"] == 826 + 1  # the boundary instant is read again
    assert second["progress"]["created"] == 826 and second["progress"]["unchanged"] == 1
    assert StixObject.objects.count() == 1826
    assert ThreatFeed.objects.get(pk=feed["id"]).cursor == second["cursor_after"]
    assert FeedRun.objects.filter(feed_id=feed["id"]).count() == 2


def test_second_consume_while_active_is_refused_with_the_active_run(
    api: Any, celery_worker: Any, wait_for_run: Any, ics_objects: list, tmp_path: Path
) -> None:
    with medallion_server(ics_objects, tmp_path) as server:
        feed = _create_feed(api, server, "busy feed")
        started = api.post(f"/api/threat-feeds/{feed['id']}/consume/")
        assert started.status_code == 202
        refused = api.post(f"/api/threat-feeds/{feed['id']}/consume/")
        if refused.status_code == 409:
            assert refused.json()["code"] == "run_active"
            assert refused.json()["active_run"] == started.json()["task_id"]
        else:  # the first run already finished: then the second one is a normal run
            assert refused.status_code == 202
        wait_for_run(started.json()["run_id"])
        if refused.status_code == 202:
            wait_for_run(refused.json()["run_id"])


def test_stop_now_then_consume_on_a_collection_added_in_one_instant_loses_nothing(
    api: Any, celery_worker: Any, wait_for_run: Any, ics_objects: list, tmp_path: Path
) -> None:
    import datetime as dt

    from tests.integration.helpers import run_reached, wait_until

    with medallion_server(ics_objects, tmp_path, max_page_size=10, step=dt.timedelta(0)) as server:
        assert len(set(server.date_added)) == 1
        feed = _create_feed(api, server, "bulk-loaded collection", page_size=10)
        started = api.post(f"/api/threat-feeds/{feed['id']}/consume/").json()
        wait_until(lambda: run_reached(started["run_id"], pages=3))
        stop = api.post(
            f"/api/threat-feeds/cancel-task/{started['task_id']}/", {"mode": "stop_now"}, format="json"
        )
        assert stop.status_code == 202, stop.content
        first = wait_for_run(started["run_id"])
        assert first.status == "stopped" and 0 < first.created < 1826
        second = _consume(api, feed["id"], wait_for_run)
    assert second["status"] == "completed"
    assert StixObject.objects.count() == 1826  # nothing skipped at the shared instant
    assert first.created + second["progress"]["created"] == 1826
    # What the first run stored is read again (same versions): unchanged, not created twice.
    assert second["progress"]["unchanged"] == first.created
