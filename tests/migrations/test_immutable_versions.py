"""Migration 0007 (immutable versions) turns the old store (current object + replaced versions +
per-run provenance) into versions linked to the runs that delivered them, and rollback is then
exact on the migrated data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)
APP = "threat_feeds"


def _nodes() -> tuple[tuple[str, str], tuple[str, str], list[tuple[str, str]]]:
    graph = MigrationExecutor(connection).loader.graph
    target = next(node for node in graph.nodes if node[0] == APP and node[1].endswith("immutable_versions"))
    (before,) = (parent for parent in graph.node_map[target].parents if parent.key[0] == APP)
    return before.key, target, graph.leaf_nodes()


def _migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def _obj(stix_id: str, modified: str, text: str) -> dict[str, Any]:
    return {"type": "indicator", "spec_version": "2.1", "id": stix_id, "created": "2024-01-01T00:00:00.000Z",
            "modified": modified, "name": text}  # fmt: skip


def test_old_store_becomes_versions_linked_to_the_runs_that_delivered_them() -> None:
    before, target, leaves = _nodes()
    old = _migrate([before])
    try:
        Feed, Run = old.get_model(APP, "ThreatFeed"), old.get_model(APP, "FeedRun")
        Obj, Ver = old.get_model(APP, "StixObject"), old.get_model(APP, "StixObjectVersion")
        Prov = old.get_model(APP, "ObjectProvenance")
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        feed = Feed.objects.create(name="legacy", source_type="taxii21")
        r1, r2, r3 = (Run.objects.create(feed=feed, status="completed") for _ in range(3))
        v1 = _obj("indicator--11111111-1111-4111-8111-111111111111", "2024-01-01T00:00:00.000Z", "first")
        v2 = {**v1, "modified": "2024-06-01T00:00:00.000Z", "name": "second"}
        plain = _obj("indicator--22222222-2222-4222-8222-222222222222", "2024-01-01T00:00:00.000Z", "plain")
        mod = datetime.fromisoformat
        o = Obj.objects.create(stix_id=v1["id"], type="indicator", spec_version="2.1", created=t0,
                               modified=mod(v2["modified"]), data=v2, first_seen_at=t0, updated_at=t0)  # fmt: skip
        q = Obj.objects.create(stix_id=plain["id"], type="indicator", spec_version="2.1", created=t0,
                               modified=mod(plain["modified"]), data=plain, first_seen_at=t0, updated_at=t0)  # fmt: skip
        replaced = Ver.objects.create(stix_object=o, modified=mod(v1["modified"]), data=v1,
                                      superseded_by_run=r2, superseded_at=t0 + timedelta(hours=2))  # fmt: skip
        Prov.objects.create(
            run=r1, feed=feed, stix_object=o, action="created", seen_at=t0 + timedelta(hours=1)
        )
        Prov.objects.create(
            run=r1, feed=feed, stix_object=q, action="created", seen_at=t0 + timedelta(hours=1)
        )
        Prov.objects.create(run=r2, feed=feed, stix_object=o, action="updated", previous_version=replaced,
                            seen_at=t0 + timedelta(hours=2))  # fmt: skip
        Prov.objects.create(
            run=r3, feed=feed, stix_object=o, action="unchanged", seen_at=t0 + timedelta(hours=3)
        )

        new = _migrate([target])
        Obj, Prov = new.get_model(APP, "StixObject"), new.get_model(APP, "ObjectProvenance")
        links = {
            (p.run_id, p.stix_object.stix_id, p.version.data["name"])
            for p in Prov.objects.select_related("stix_object", "version")
        }
        assert links == {
            (r1.pk, v1["id"], "first"),
            (r1.pk, plain["id"], "plain"),
            (r2.pk, v1["id"], "second"),
            (r3.pk, v1["id"], "second"),  # saw the second version, current when it ran
        }
        assert Obj.objects.get(stix_id=v1["id"]).version_key == "2024-06-01T00:00:00.000000Z"
    finally:
        _migrate(leaves)

    from threat_feeds.control.rollback import run_rollback
    from threat_feeds.models import StixObject, StixObjectVersion

    # r3 delivered the second version too: undoing r2 alone keeps it; undoing r3 as well restores the first.
    assert run_rollback(r2.pk).restored == 0
    assert StixObject.objects.get(stix_id=v1["id"]).data == v2
    result = run_rollback(r3.pk)
    assert (result.restored, result.removed) == (1, 0)
    assert StixObject.objects.get(stix_id=v1["id"]).data == v1
    assert StixObjectVersion.objects.filter(stix_object__stix_id=v1["id"]).count() == 1
    assert run_rollback(r1.pk).removed == 2 and not StixObject.objects.exists()
