"""STIX bundle feeds through the API and a real worker: versions, invalid objects, uploads."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import load_json
from threat_feeds.models import FeedRun, StixObject, StixObjectVersion

pytestmark = pytest.mark.django_db(transaction=True)
BUNDLE = "stix20/talos/2022_09_lazarus-magicrat.json.gz"


def _upload(api: Any, feed_id: int, bundle: dict[str, Any]) -> None:
    data = io.BytesIO(json.dumps(bundle).encode())
    data.name = "bundle.json"
    response = api.post(f"/api/threat-feeds/{feed_id}/upload/", {"file": data}, format="multipart")
    assert response.status_code == 200, response.content


def _consume(api: Any, feed_id: int, wait_for_run: Any) -> FeedRun:
    response = api.post(f"/api/threat-feeds/{feed_id}/consume/")
    assert response.status_code == 202, response.content
    return wait_for_run(response.json()["run_id"])


def test_newer_versions_update_objects_and_invalid_objects_are_skipped(
    api: Any, celery_worker: Any, wait_for_run: Any, datasets: Path
) -> None:
    bundle = load_json(datasets / BUNDLE)
    objects = bundle["objects"]
    feed = api.post("/api/threat-feeds/", {"name": "talos", "source_type": "stix_bundle"}, format="json")
    assert feed.status_code == 201, feed.content
    feed_id = feed.json()["id"]

    _upload(api, feed_id, bundle)
    first = _consume(api, feed_id, wait_for_run)
    assert first.status == "completed", first.error_message
    assert first.created == len({o["id"] for o in objects}) and first.invalid == 0

    # Edition 2: three objects re-issued with a newer `modified`, one older copy, and three bad objects.
    newer = copy.deepcopy([o for o in objects if "modified" in o][:3])
    for obj in newer:
        obj["modified"] = "2030-01-01T00:00:00.000Z"
        obj["description"] = "revised"
    older = copy.deepcopy(next(o for o in objects if "modified" in o and o not in newer))
    older["modified"] = "2000-01-01T00:00:00.000Z"
    invalid = [
        {"type": "indicator", "id": "indicator--not-a-uuid", "created": "2022-01-01T00:00:00Z"},
        {
            "type": "indicator",
            "id": "indicator--6f7b4c8a-4b6a-4b8e-9d0e-0a1b2c3d4e5f",
            "created": "2022-01-01T00:00:00Z",
            "modified": "2022-01-01T00:00:00Z",
            "valid_from": "2022-01-01T00:00:00Z",
            "pattern": "[ipv4-addr:value = '1.2.3.4'",
        },
        "not an object",
    ]
    edition2 = {**bundle, "objects": [*objects, *newer, older, *invalid]}
    _upload(api, feed_id, edition2)
    second = _consume(api, feed_id, wait_for_run)
    assert second.status == "completed"
    assert second.updated == 3 and second.created == 0
    assert second.invalid == 3 and len(second.invalid_samples) == 3
    assert any("invalid 'id'" in reason for reason in second.invalid_samples)
    assert any("pattern" in reason for reason in second.invalid_samples)
    assert second.fetched == second.created + second.updated + second.unchanged + second.invalid

    for obj in newer:
        stored = StixObject.objects.get(stix_id=obj["id"])
        assert stored.data == obj
        versions = {v.data["modified"]: v for v in StixObjectVersion.objects.filter(stix_object=stored)}
        assert len(versions) == 2  # both kept, each linked to the run that delivered it
        previous = next(o for o in objects if o["id"] == obj["id"])
        assert versions[previous["modified"]].data == previous
        assert {(p.run_id, p.action) for p in versions[previous["modified"]].links.all()} == {
            (first.pk, "created")
        }
        assert {(p.run_id, p.action) for p in versions[obj["modified"]].links.all()} == {
            (second.pk, "updated")
        }
        detail = api.get(f"/api/stix-objects/{stored.pk}/").json()
        history = [(v["modified"][:10], v["current"], [(d["run"]["run_id"], d["action"]) for d in v["delivered_by"]])
                   for v in detail["versions"]]  # fmt: skip
        assert history == [("2030-01-01", True, [(second.pk, "updated")]), (previous["modified"][:10], False, [(first.pk, "created")])]  # fmt: skip
        assert detail["versions"][0]["delivered_by"][0]["feed"]["id"] == feed_id
    assert StixObject.objects.get(stix_id=older["id"]).data != older  # an older version never wins
    assert not StixObject.objects.filter(stix_id__in=["indicator--not-a-uuid", invalid[1]["id"]]).exists()

    snapshot = api.get(f"/api/threat-feeds/task-status/{second.task_id}/").json()
    assert snapshot["progress"]["updated"] == 3 and snapshot["progress"]["invalid"] == 3
    assert len(snapshot["invalid_samples"]) == 3


def test_malformed_bundle_is_refused_at_upload_with_a_clear_error(api: Any) -> None:
    # Checked as JSON when uploaded (400 at once), not a failed run later; a bundle that goes bad
    # at run time is covered by tests/sources/test_stix_bundle.py.
    feed = api.post(
        "/api/threat-feeds/", {"name": "broken", "source_type": "stix_bundle"}, format="json"
    ).json()
    data = io.BytesIO(b'{"type": "bundle", "objects": [{"type": "indicator", ')
    data.name = "broken.json"
    response = api.post(f"/api/threat-feeds/{feed['id']}/upload/", {"file": data}, format="multipart")
    assert response.status_code == 400 and response.json()["code"] == "malformed_json"
    assert response.json()["detail"].startswith("The file is not valid JSON")
    assert not FeedRun.objects.exists() and StixObject.objects.count() == 0
