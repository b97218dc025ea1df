"""OTX feeds with a real worker against a local OTX server serving the recorded pulses."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.integration.helpers import run_reached, store_snapshot, wait_until
from tests.peers.otx_server import OtxServer, otx_server
from threat_feeds.models import FeedRun, Indicator, IndicatorProvenance, StixObject, ThreatFeed
from threat_feeds.services.runs import feed_run_start
from threat_feeds.services.uploads import feed_store_upload
from threat_feeds.sources.otx_stix import pulse_modified

pytestmark = pytest.mark.django_db(transaction=True)
PULSES = "otx/intelmq_test_parser_otx_pulses.json"
KEY = "test-otx-key"


@pytest.fixture
def pulses(datasets: Path) -> list[dict[str, Any]]:
    return json.loads((datasets / PULSES).read_text())


def _feed(server: OtxServer, *, name: str = "otx", owner: Any = None, key: str = KEY, page_size: int = 50
          ) -> ThreatFeed:  # fmt: skip
    return ThreatFeed.objects.create(name=name, source_type="otx", url=server.url, api_key=key,
                                     page_size=page_size, owner=owner)  # fmt: skip


def _run(feed: ThreatFeed, user: Any, wait_for_run: Any) -> FeedRun:
    feed.refresh_from_db()  # the run starts from the feed's stored cursor
    return wait_for_run(feed_run_start(feed=feed, user=user).pk)


def _oldest_first(pulses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(pulses, key=pulse_modified)  # type: ignore[arg-type]


def test_every_recorded_indicator_type_is_stored(
    user: Any, celery_worker: Any, wait_for_run: Any, pulses: list[dict[str, Any]]
) -> None:
    expected = collections.Counter(i["type"] for p in pulses for i in p["indicators"])
    assert expected == {"FileHash-MD5": 26, "FileHash-SHA256": 24, "hostname": 14, "IPv4": 9, "FileHash-SHA1": 8,
                        "URL": 5, "domain": 5, "URI": 2, "CVE": 1, "email": 1}  # fmt: skip
    with otx_server(pulses=pulses, page_max=2) as server:
        run = _run(_feed(server, owner=user), user, wait_for_run)
    assert run.status == "completed", run.error_message
    assert run.pages == 3 and run.invalid == 0
    assert run.fetched == run.created == len(pulses) + sum(expected.values())
    stored = collections.Counter(
        data["x_otx_type"]
        for data in StixObject.objects.exclude(type="report").values_list("data", flat=True)
    )
    assert stored == expected
    assert StixObject.objects.filter(type="report").count() == len(pulses)
    assert StixObject.objects.filter(type="vulnerability", data__name="CVE-2012-0158").exists()
    values = {
        (i["type"], i["indicator"].strip()) for p in pulses for i in p["indicators"] if i["type"] != "CVE"
    }
    kinds = {"IPv4": "ipv4", "hostname": "domain", "domain": "domain", "URL": "url", "URI": "url",
             "email": "email", "FileHash-MD5": "md5", "FileHash-SHA1": "sha1", "FileHash-SHA256": "sha256"}  # fmt: skip
    lower = {"domain", "email", "md5", "sha1", "sha256"}
    assert set(Indicator.objects.values_list("kind", "value")) == {
        (kinds[t], v.lower() if kinds[t] in lower else v) for t, v in values
    }
    feed = ThreatFeed.objects.get(pk=run.feed_id)
    newest = max(pulse_modified(p) for p in pulses)  # type: ignore[type-var]
    assert feed.cursor == run.cursor_after == {"modified_since": newest.isoformat()}


def test_indicators_are_deduplicated_with_other_feeds_and_reingest_is_unchanged(
    user: Any, celery_worker: Any, wait_for_run: Any, pulses: list[dict[str, Any]], tmp_path: Path
) -> None:
    ip = next(i["indicator"] for p in pulses for i in p["indicators"] if i["type"] == "IPv4")
    bundle = {"type": "bundle", "id": "bundle--0d8a3cc4-42f5-4e4c-a9a4-9b1f3a0a3b11", "objects": [{
        "type": "indicator", "spec_version": "2.1", "id": "indicator--5b0e5f1e-1c55-4e7b-9b6e-8d7c3f0f7a21",
        "created": "2020-01-01T00:00:00.000Z", "modified": "2020-01-01T00:00:00.000Z",
        "pattern": f"[ipv4-addr:value = '{ip}']", "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z",
    }]}  # fmt: skip
    other = ThreatFeed.objects.create(name="other", source_type="stix_bundle")
    upload = SimpleUploadedFile("bundle.json", json.dumps(bundle).encode())
    feed_store_upload(other, upload)
    assert _run(other, user, wait_for_run).status == "completed"

    with otx_server(pulses=pulses) as server:
        feed = _feed(server, owner=user)
        first = _run(feed, user, wait_for_run)
        assert first.status == "completed", first.error_message
        ThreatFeed.objects.filter(pk=feed.pk).update(cursor={})  # fetch everything again
        again = _run(feed, user, wait_for_run)
    assert Indicator.objects.filter(kind="ipv4", value=ip).count() == 1
    linked = IndicatorProvenance.objects.filter(indicator__value=ip).values_list("feed_id", flat=True)
    assert set(linked) == {other.pk, feed.pk}
    assert again.status == "completed" and again.created == 0 and again.unchanged == first.created


def test_a_second_run_fetches_only_pulses_modified_after_the_cursor(
    user: Any, celery_worker: Any, wait_for_run: Any, pulses: list[dict[str, Any]]
) -> None:
    ordered = _oldest_first(pulses)
    with otx_server(pulses=ordered[:3], page_max=2) as server:
        feed = _feed(server, owner=user)
        first = _run(feed, user, wait_for_run)
        server.config.pulses = ordered  # two pulses published since
        second = _run(feed, user, wait_for_run)
    assert first.status == second.status == "completed"
    assert second.cursor_before == first.cursor_after
    assert server.requests[-1]["modified_since"] == first.cursor_after["modified_since"]
    assert second.fetched == sum(1 + len(p["indicators"]) for p in ordered[3:])
    assert second.unchanged == 0
    assert StixObject.objects.filter(type="report").count() == 5


@pytest.mark.parametrize(("mode", "final"), [("stop_now", "stopped"), ("cancel_job", "cancelled")])
def test_cancel_mid_page(
    api: Any,
    user: Any,
    celery_worker: Any,
    wait_for_run: Any,
    pulses: list[dict[str, Any]],
    mode: str,
    final: str,
) -> None:
    before = store_snapshot()
    with otx_server(pulses=pulses, page_max=1, delay=1.0) as server:
        feed = _feed(server, owner=user)
        run = feed_run_start(feed=feed, user=user)
        wait_until(lambda: run_reached(run.pk, pages=2, stage="fetching"))
        response = api.post(f"/api/threat-feeds/cancel-task/{run.task_id}/", {"mode": mode}, format="json")
        assert response.status_code == 202, response.content
        run = wait_for_run(run.pk, timeout=10)
    assert run.status == final
    assert 2 <= run.pages < 5
    feed.refresh_from_db()
    if mode == "stop_now":
        assert StixObject.objects.filter(type="report").count() == run.pages
        assert StixObject.objects.count() == run.created == run.objects_kept
        assert feed.cursor == run.cursor_after != {}
    else:
        assert store_snapshot() == before
        assert feed.cursor == {}


def test_a_wrong_key_fails_the_run_with_a_clear_error(
    user: Any, celery_worker: Any, wait_for_run: Any, pulses: list[dict[str, Any]]
) -> None:
    with otx_server(pulses=pulses) as server:
        run = _run(_feed(server, owner=user, key="revoked-key"), user, wait_for_run)
    assert run.status == "failed" and run.error_code == "auth_failed"
    assert "API key" in run.error_message
    assert not StixObject.objects.exists()


def test_a_malformed_page_fails_the_run_and_leaves_only_whole_pages(
    user: Any, celery_worker: Any, wait_for_run: Any, pulses: list[dict[str, Any]]
) -> None:
    first_page = _oldest_first(pulses)[:2]
    with otx_server(pulses=pulses, page_max=2, malformed_from_page=2) as server:
        feed = _feed(server, owner=user)
        run = _run(feed, user, wait_for_run)
    assert run.status == "failed" and run.error_code == "malformed_json"
    assert "not JSON" in run.error_message
    assert run.pages == 1
    assert set(StixObject.objects.filter(type="report").values_list("data__x_otx_pulse_id", flat=True)) == {
        p["id"] for p in first_page
    }
    assert StixObject.objects.count() == sum(1 + len(p["indicators"]) for p in first_page)
    feed.refresh_from_db()
    assert feed.cursor == run.cursor_after == {"modified_since": pulse_modified(first_page[-1]).isoformat()}  # type: ignore[union-attr]
