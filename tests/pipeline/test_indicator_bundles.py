"""Real indicator bundles (STIX 2.1 and 2.0) through the real pipeline: kinds extracted from patterns
match the per-path counts computed independently in ../shared/datasets/manifest.json."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db.models import Count

from tests.conftest import load_json
from threat_feeds.control.checkpoint import RunCheckpoint
from threat_feeds.models import FeedRun, IndicatorProvenance, StixObject, ThreatFeed
from threat_feeds.pipeline.runner import ingest
from threat_feeds.pipeline.upsert import StoreWriter
from threat_feeds.services.runs import _RunRecorder
from threat_feeds.sources.base import FeedConfig
from threat_feeds.sources.stix_bundle import StixBundleSource

# Storage runs in a thread with its own connection: it must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)

# Written here, independently of threat_feeds/pipeline/patterns.py, from the STIX 2.1 object paths.
EXPECTED_KIND = {
    "domain-name:value": "domain",
    "url:value": "url",
    "ipv4-addr:value": "ipv4",
    "ipv6-addr:value": "ipv6",
    "email-addr:value": "email",
    "file:name": "file-name",
    "file:path": "file-path",
    "directory:path": "directory",
    "mutex:name": "mutex",
    "process:name": "process-name",
    "process:command_line": "command-line",
    "windows-registry-key:key": "registry-key",
    "file:hashes.'SHA-256'": "sha256",
    "file:hashes.SHA256": "sha256",
    "file:hashes.sha256": "sha256",
    "file:hashes.'SHA-1'": "sha1",
    "file:hashes.SHA1": "sha1",
    "file:hashes.MD5": "md5",
    "file:hashes.md5": "md5",
    "file:hashes.'MD5'": "md5",
}
GROUPS = [
    "stix21/amnesty",
    "stix21/mvt",
    "stix21/oasis",
    "stix21/sekoia",
    "stix20/talos",
    "stix20/unit42-playbooks",
]


def _without_equality(objects: list[dict[str, Any]], path: str) -> int:
    """Indicators that name `path` only with a non-equality operator (LIKE, MATCHES, ...): no observable."""
    operators = re.compile(
        re.escape(path) + r"\s*(NOT\s+)?(=|!=|<=|>=|<|>|LIKE|MATCHES|IN|ISSUBSET|ISSUPERSET)"
    )
    count = 0
    for obj in objects:
        if obj.get("type") == "indicator":
            found = [m.group(2) for m in operators.finditer(obj.get("pattern", ""))]
            count += bool(found) and "=" not in found
    return count


def _ingest_file(path: Path, feed: ThreatFeed) -> FeedRun:
    run = FeedRun.objects.create(feed=feed, status="running")
    config = FeedConfig(
        source_type="stix_bundle", url="", page_size=1000, settings={"upload_path": str(path)}
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
    run.status = "completed"
    run.save(update_fields=["status"])
    return run


@pytest.mark.parametrize("group", GROUPS)
def test_indicator_kinds_match_manifest(group: str, datasets: Path, manifest: dict[str, Any]) -> None:
    files = sorted(name for name in manifest if name.startswith(group + "/"))
    assert files, group
    feed = ThreatFeed.objects.create(name=group, source_type="stix_bundle")
    checked = 0
    for name in files:
        expected = manifest[name]
        objects = load_json(datasets / name)["objects"]
        run = _ingest_file(datasets / name, feed)
        assert run.fetched == expected["objects"], name
        assert run.invalid == 0, (name, run.invalid_samples)
        links = IndicatorProvenance.objects.filter(run=run)
        per_path = dict(
            links.values("path").annotate(n=Count("stix_object", distinct=True)).values_list("path", "n")
        )
        for path, count in expected["pattern_object_paths"].items():
            if path not in EXPECTED_KIND:
                continue
            assert per_path.get(path, 0) == count - _without_equality(objects, path), (name, path)
            kinds = set(links.filter(path=path).values_list("indicator__kind", flat=True))
            assert kinds == {EXPECTED_KIND[path]}, (name, path, kinds)
            checked += 1
        indicator_objects = StixObject.objects.filter(provenance__run=run, type="indicator").count()
        assert indicator_objects == len({o["id"] for o in objects if o["type"] == "indicator"})
    assert checked > 0


def test_stix20_objects_are_stored_exactly_as_received(datasets: Path) -> None:
    name = "stix20/talos/2022_09_lazarus-magicrat.json.gz"
    feed = ThreatFeed.objects.create(name="talos", source_type="stix_bundle")
    run = _ingest_file(datasets / name, feed)
    source = {obj["id"]: obj for obj in load_json(datasets / name)["objects"]}
    stored = dict(StixObject.objects.filter(provenance__run=run).values_list("stix_id", "data"))
    assert stored == source
    assert set(StixObject.objects.values_list("spec_version", flat=True)) == {""}
    assert Counter(o["type"] for o in source.values())["indicator"] > 0
