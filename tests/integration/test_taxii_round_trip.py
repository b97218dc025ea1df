"""Round trip: real bundles in, read back unchanged through the TAXII server (taxii2-client against a
live server) and the bundle export; then a CRISP feed consumes CRISP's own TAXII collection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from taxii2client.v21 import Collection, as_pages

from tests.conftest import load_json
from tests.integration.helpers import ingest_bundle_file, store_snapshot
from threat_feeds.models import ObjectProvenance, StixObject, StixObjectVersion, ThreatFeed
from threat_feeds.taxii.backend import EVERYTHING, feed_collection_id

pytestmark = pytest.mark.django_db(transaction=True)
# ATT&CK Enterprise (STIX 2.0, 24,771 objects) has a test of its own below; here Mobile 18.1 carries
# the STIX 2.0 case.
ATTACK = [
    "attack/attack-ics-v18.1-stix21.json.gz",
    "attack/attack-mobile-v17.1-stix21.json.gz",
    "attack/attack-mobile-v18.1-stix20-reassembled.json.gz",
]
AUTH = {"user": "analyst", "password": "analyst-pass-1"}


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    """STIX names a version by (id, modified); undated objects have a version per content."""
    return obj["id"], obj.get("modified") or json.dumps(obj, sort_keys=True)


def _source_versions(datasets: Path, names: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every (id, version) of the files, in ingest order. A version is stored once: when two files
    carry the same (id, modified) in different forms (ATT&CK Mobile 17.1 in STIX 2.1 and 18.1 in
    STIX 2.0 share 1,769 of them), CRISP keeps the form delivered first."""
    versions: dict[tuple[str, str], dict[str, Any]] = {}
    for name in names:
        for obj in load_json(datasets / name)["objects"]:
            versions.setdefault(_key(obj), obj)
    return versions


def _read_all(collection: Collection, **filters: Any) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for envelope in as_pages(collection.get_objects, per_request=1000, **filters):
        objects.extend(envelope.get("objects", []))
    return objects


def test_datasets_round_trip_through_taxii_and_the_bundle_export(
    live_server: Any, api: Any, datasets: Path, manifest: dict[str, Any]
) -> None:
    indicator_files = sorted(name for name in manifest if name.startswith("stix21/"))
    names = [*ATTACK, *indicator_files]
    attack = ThreatFeed.objects.create(name="ATT&CK", source_type="stix_bundle")
    indicators = ThreatFeed.objects.create(name="STIX 2.1 indicators", source_type="stix_bundle")
    for name in names:
        run = ingest_bundle_file(datasets / name, attack if name in ATTACK else indicators)
        assert run.invalid == 0, (name, run.invalid_samples)
    source = _source_versions(datasets, names)
    assert StixObjectVersion.objects.count() == len(source)

    # TAXII, every version: each equal as a JSON value to its source.
    everything = Collection(f"{live_server.url}/taxii2/crisp/collections/{EVERYTHING}/", **AUTH)
    every_version = _read_all(everything, version="all")
    assert len(every_version) == len(source)
    assert {_key(o): o for o in every_version} == source

    # TAXII, the default (last version of each object) = the store's current objects.
    current = _read_all(everything)
    assert len(current) == StixObject.objects.count() == len({o["id"] for o in source.values()})
    assert all(source[_key(o)] == o for o in current)

    # A feed's collection: the ATT&CK versions (STIX 2.0 objects stay STIX 2.0).
    attack_collection = Collection(
        f"{live_server.url}/taxii2/crisp/collections/{feed_collection_id(attack.pk)}/", **AUTH
    )
    attack_versions = _read_all(attack_collection, version="all")
    assert {_key(o) for o in attack_versions} == set(_source_versions(datasets, ATTACK))
    assert any("spec_version" not in o for o in attack_versions)

    # The streamed bundle export: the current version of every object, as received.
    response = api.get("/api/stix-objects/export/")
    assert response.status_code == 200
    bundle = json.loads(b"".join(response.streaming_content))
    assert len(bundle["objects"]) == len(current)
    assert all(source[_key(o)] == o for o in bundle["objects"])
    exported_attack = json.loads(
        b"".join(api.get(f"/api/stix-objects/export/?feed={attack.pk}").streaming_content)
    )
    assert {o["id"] for o in exported_attack["objects"]} == {o["id"] for o in attack_versions}


def test_a_crisp_feed_consuming_crisps_own_taxii_collection_changes_nothing(
    live_server: Any, api: Any, celery_worker: Any, wait_for_run: Any, datasets: Path
) -> None:
    ics = ThreatFeed.objects.create(name="ICS", source_type="stix_bundle")
    ingest_bundle_file(datasets / ATTACK[0], ics)
    ingest_bundle_file(datasets / "stix21/oasis/poisonivy.json", ics)
    before = store_snapshot()

    response = api.post(
        "/api/threat-feeds/",
        {
            "name": "CRISP mirror",
            "source_type": "taxii21",
            "url": f"{live_server.url}/taxii2/crisp/",
            "collection_id": str(EVERYTHING),
            "username": AUTH["user"],
            "password": AUTH["password"],
            "page_size": 250,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    started = api.post(f"/api/threat-feeds/{response.json()['id']}/consume/")
    assert started.status_code == 202, started.content
    run = wait_for_run(started.json()["run_id"])
    assert run.status == "completed", (run.error_code, run.error_message)
    objects = StixObject.objects.count()
    assert run.fetched == run.unchanged == objects
    assert run.created == run.updated == run.invalid == 0
    assert run.pages == -(-objects // 250)

    after = store_snapshot()
    assert after["objects"] == before["objects"] and after["versions"] == before["versions"]
    assert after["indicators"] == before["indicators"]
    mirror_links = ObjectProvenance.objects.filter(run=run)
    assert mirror_links.count() == objects and set(mirror_links.values_list("action", flat=True)) == {
        "unchanged"
    }


def test_attack_enterprise_stix20_round_trips_through_taxii_and_the_bundle_export(
    live_server: Any, api: Any, datasets: Path
) -> None:
    name = "attack/attack-enterprise-v18.1-stix20-reassembled.json.gz"
    feed = ThreatFeed.objects.create(name="ATT&CK Enterprise", source_type="stix_bundle")
    run = ingest_bundle_file(datasets / name, feed)
    assert run.invalid == 0 and run.created == 24771
    source = _source_versions(datasets, [name])
    assert len(source) == 24771 and all("spec_version" not in o for o in source.values())

    collection = Collection(
        f"{live_server.url}/taxii2/crisp/collections/{feed_collection_id(feed.pk)}/", **AUTH
    )
    every_version = _read_all(collection, version="all")
    assert len(every_version) == len(source)
    assert {_key(o): o for o in every_version} == source

    response = api.get(f"/api/stix-objects/export/?feed={feed.pk}")
    bundle = json.loads(b"".join(response.streaming_content))
    assert len(bundle["objects"]) == len(source)
    assert {_key(o): o for o in bundle["objects"]} == source
