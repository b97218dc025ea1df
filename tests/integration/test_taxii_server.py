"""CRISP's TAXII 2.1 server (/taxii2/) read with taxii2-client against a live Django server."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import requests
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from tests.conftest import load_json
from tests.integration.helpers import ingest_bundle_file
from threat_feeds.models import StixObject, ThreatFeed
from threat_feeds.taxii.backend import EVERYTHING, feed_collection_id

pytestmark = pytest.mark.django_db(transaction=True)
STIX20 = "stix20/talos/2022_09_lazarus-magicrat.json.gz"
STIX21 = "stix21/oasis/indicator-for-c2-ip-address.json"
TAXII = "application/taxii+json;version=2.1"
AUTH = {"user": "analyst", "password": "analyst-pass-1"}


@pytest.fixture
def store(datasets: Path, tmp_path: Path, user: Any) -> dict[str, Any]:
    """Two feeds; the second also re-issues three talos objects at a newer version."""
    talos_objects = load_json(datasets / STIX20)["objects"]
    newer = copy.deepcopy([o for o in talos_objects if "modified" in o][:3])
    for obj in newer:
        obj["modified"] = "2030-01-01T00:00:00.000Z"
        obj["description"] = "revised"
    oasis_objects = load_json(datasets / STIX21)["objects"]
    edition = tmp_path / "edition.json"
    edition.write_text(
        json.dumps(
            {
                "type": "bundle",
                "id": "bundle--" + "1" * 8 + "-1111-4111-8111-" + "1" * 12,
                "objects": [*oasis_objects, *newer],
            }
        )
    )
    talos = ThreatFeed.objects.create(name="talos", source_type="stix_bundle")
    oasis = ThreatFeed.objects.create(name="oasis", source_type="stix_bundle")
    ingest_bundle_file(datasets / STIX20, talos)
    ingest_bundle_file(edition, oasis)
    return {
        "talos": talos,
        "oasis": oasis,
        "talos_objects": talos_objects,
        "newer": newer,
        "oasis_objects": oasis_objects,
    }


def _collection(live_server: Any, collection_id: Any) -> Collection:
    return Collection(f"{live_server.url}/taxii2/crisp/collections/{collection_id}/", **AUTH)


def _all_objects(collection: Collection, per_request: int, **filters: Any) -> list[dict[str, Any]]:
    objects = []
    for envelope in as_pages(collection.get_objects, per_request=per_request, **filters):
        objects.extend(envelope.get("objects", []))
    return objects


def _canonical(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(o, sort_keys=True) for o in objects)


def test_discovery_api_root_and_a_collection_per_feed_plus_everything(
    live_server: Any, store: dict[str, Any]
) -> None:
    server = Server(f"{live_server.url}/taxii2/", **AUTH)
    assert server.default.url == f"{live_server.url}/taxii2/crisp/"
    api_root = ApiRoot(server.default.url, **AUTH)
    assert TAXII in api_root.versions
    ids = {c.id: c.title for c in api_root.collections}
    assert ids == {
        str(EVERYTHING): "Everything",
        feed_collection_id(store["talos"].pk): "talos",
        feed_collection_id(store["oasis"].pk): "oasis",
    }
    assert all(c.can_read and not c.can_write for c in api_root.collections)


def test_objects_are_paged_with_next_and_default_to_the_last_version(
    live_server: Any, store: dict[str, Any]
) -> None:
    objects = _all_objects(_collection(live_server, EVERYTHING), per_request=7)
    current = dict(StixObject.objects.values_list("stix_id", "data"))
    assert len(objects) == len(current)
    assert {o["id"]: o for o in objects} == current
    revised = {o["id"] for o in store["newer"]}
    assert all(o["description"] == "revised" for o in objects if o["id"] in revised)


def test_feed_collections_hold_what_each_feed_delivered_in_every_version(
    live_server: Any, store: dict[str, Any]
) -> None:
    talos = _collection(live_server, feed_collection_id(store["talos"].pk))
    # talos only ever delivered the original versions: they are its "last".
    assert {o["id"]: o for o in _all_objects(talos, 10)} == {o["id"]: o for o in store["talos_objects"]}
    oasis = _collection(live_server, feed_collection_id(store["oasis"].pk))
    expected = [*store["oasis_objects"], *store["newer"]]
    assert _canonical(_all_objects(oasis, 2)) == _canonical(expected)

    everything = _collection(live_server, EVERYTHING)
    revised = store["newer"][0]
    original = next(o for o in store["talos_objects"] if o["id"] == revised["id"])
    versions = everything.object_versions(revised["id"])["versions"]
    assert len(versions) == 2
    by_version = {
        "all": [original, revised],
        "first": [original],
        "last": [revised],
    }
    for match, expected_objects in by_version.items():
        got = everything.get_object(revised["id"], version=match)["objects"]
        assert sorted(got, key=lambda o: o["modified"]) == expected_objects, match
    every_version = _all_objects(everything, 50, version="all")
    assert len(every_version) == StixObject.objects.count() + len(store["newer"])
    indicators = _all_objects(everything, 50, type="indicator")
    assert indicators and {o["type"] for o in indicators} == {"indicator"}
    assert _all_objects(everything, 50, id=revised["id"]) == [revised]


def test_manifest_versions_headers_and_added_after(live_server: Any, store: dict[str, Any]) -> None:
    url = f"{live_server.url}/taxii2/crisp/collections/{EVERYTHING}/"
    session = requests.Session()
    session.auth = (AUTH["user"], AUTH["password"])
    session.headers["Accept"] = TAXII
    first = session.get(url + "manifest/", params={"limit": 5})
    assert first.status_code == 200 and first.headers["Content-Type"] == TAXII
    page = first.json()
    assert page["more"] is True and len(page["objects"]) == 5 and page["next"]
    entry = page["objects"][0]
    assert set(entry) == {"id", "date_added", "version", "media_type"}
    assert entry["date_added"] == first.headers["X-TAXII-Date-Added-First"]
    assert page["objects"][-1]["date_added"] == first.headers["X-TAXII-Date-Added-Last"]
    media_types = {e["media_type"] for e in session.get(url + "manifest/").json()["objects"]}
    assert media_types == {"application/stix+json;version=2.0", "application/stix+json;version=2.1"}

    last_added = session.get(url + "objects/").headers["X-TAXII-Date-Added-Last"]
    assert session.get(url + "objects/", params={"added_after": last_added}).json() == {"more": False}
    assert session.get(url + "objects/", params={"next": "garbage!"}).status_code == 400
    assert session.get(url + "objects/", params={"limit": "0"}).status_code == 400
    missing = session.get(url + "objects/indicator--00000000-0000-4000-8000-000000000000/")
    assert missing.status_code == 404 and missing.json()["http_status"] == "404"
    assert session.get(f"{live_server.url}/taxii2/crisp/collections/nope/objects/").status_code == 404


def test_authentication_basic_token_and_media_types(
    live_server: Any, store: dict[str, Any], api: Any
) -> None:
    url = f"{live_server.url}/taxii2/crisp/collections/"
    anonymous = requests.get(url, headers={"Accept": TAXII})
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic")
    assert anonymous.json()["http_status"] == "401"
    wrong = requests.get(url, headers={"Accept": TAXII}, auth=("analyst", "wrong"))
    assert wrong.status_code == 401
    token = api.post("/api/auth/token/", {"username": "analyst", "password": "analyst-pass-1"}).json()[
        "token"
    ]
    with_token = requests.get(url, headers={"Accept": TAXII, "Authorization": f"Token {token}"})
    assert with_token.status_code == 200 and len(with_token.json()["collections"]) == 3
    refused = requests.get(
        url, headers={"Accept": "application/taxii+json;version=2.0"}, auth=("analyst", "analyst-pass-1")
    )
    assert refused.status_code == 406
    assert (
        requests.post(url, auth=("analyst", "analyst-pass-1"), headers={"Accept": TAXII}).status_code == 405
    )
