"""VirusTotal enrichment runs with a real worker against a local v3 API serving recorded responses."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from tests.integration.helpers import wait_until
from tests.peers.vt_server import VtServer, vt_server
from threat_feeds.models import FeedRun, Indicator, IndicatorEnrichment, ThreatFeed
from threat_feeds.services.runs import feed_run_start

pytestmark = pytest.mark.django_db(transaction=True)

RECORDED = {  # kind, value -> recorded file
    ("ipv4", "138.128.150.133"): "opencti/vt_test_ipv4.json",
    ("domain", "tawuhoju.com"): "opencti/vt_test_domain.json",
    ("url", "http://soclosebutyetqq.com/69.exe"): "opencti/vt_test_url.json",
    (
        "sha256",
        "4bc00f7d638e042da764e8648c03c0db46700599dd4f08d117e3e9e8b538519b",
    ): "opencti/vt_test_file.json",
    ("md5", "b61a4b8883ba9b9d4d85bdaecab71722"): "msticpy/vt3_file_1.json",
}


def _attributes(datasets: Path, name: str) -> dict[str, Any]:
    document = json.loads((datasets / "virustotal" / name).read_text())
    return document.get("data", document)["attributes"]


def _seed(kind: str, value: str, **fields: Any) -> Indicator:
    return Indicator.objects.create(kind=kind, value=value, first_seen_at=timezone.now(), **fields)


def _feed(server: VtServer, *, name: str = "vt", owner: Any = None, **settings: Any) -> ThreatFeed:
    return ThreatFeed.objects.create(name=name, source_type="virustotal", url=server.url, api_key=server.api_key,
                                     owner=owner, settings=settings)  # fmt: skip


def _key() -> str:
    return f"vt-key-{uuid.uuid4().hex}"  # quota keys live in Redis: one API key per test


def _indicators() -> dict[int, tuple[Any, Any]]:
    return {i.pk: (i.enrichment, i.enriched_at) for i in Indicator.objects.all()}


def test_enrichment_stores_the_recorded_verdicts(
    user: Any, celery_worker: Any, wait_for_run: Any, datasets: Path
) -> None:
    seeded = {key: _seed(*key) for key in RECORDED}
    unknown = _seed("domain", "not-in-virustotal.example")
    fresh = _seed("domain", "enriched-an-hour-ago.example", enriched_at=timezone.now() - timedelta(hours=1))
    email = _seed("email", "2732115454@qq.com")
    with vt_server(datasets, api_key=_key()) as server:
        feed = _feed(server, owner=user, quota_per_minute=100, not_enriched_days=1)
        run = wait_for_run(feed_run_start(feed=feed, user=user).pk)
    assert run.status == "completed", run.error_message
    assert run.total_expected == run.fetched == len(RECORDED) + 1
    for (kind, value), name in RECORDED.items():
        recorded = _attributes(datasets, name)
        stored = Indicator.objects.get(pk=seeded[(kind, value)].pk)
        verdict = stored.enrichment["virustotal"]
        assert verdict["found"] is True
        assert verdict["last_analysis_stats"] == recorded["last_analysis_stats"]
        assert verdict["reputation"] == recorded["reputation"]
        assert verdict["tags"] == recorded.get("tags", [])
        assert stored.enriched_at is not None
    domain = Indicator.objects.get(pk=seeded[("domain", "tawuhoju.com")].pk).enrichment["virustotal"]
    assert domain["first_seen"] == datetime.fromtimestamp(1483018099, UTC).isoformat().replace("+00:00", "Z")
    assert Indicator.objects.get(pk=unknown.pk).enrichment["virustotal"]["found"] is False  # a result
    assert Indicator.objects.get(pk=fresh.pk).enrichment == {}  # enriched within not_enriched_days
    assert Indicator.objects.get(pk=email.pk).enrichment == {}  # not a kind VirusTotal looks up
    assert IndicatorEnrichment.objects.filter(run=run).count() == len(RECORDED) + 1


def test_a_wrong_key_fails_the_run_with_a_clear_error(
    user: Any, celery_worker: Any, wait_for_run: Any, datasets: Path
) -> None:
    _seed("ipv4", "138.128.150.133")
    before = _indicators()
    with vt_server(datasets, api_key=_key()) as server:
        feed = _feed(server, owner=user, quota_per_minute=100)
        ThreatFeed.objects.filter(pk=feed.pk).update(api_key="revoked")
        run = wait_for_run(feed_run_start(feed=ThreatFeed.objects.get(pk=feed.pk), user=user).pk)
    assert run.status == "failed" and run.error_code == "auth_failed"
    assert "WrongCredentialsError" in run.error_message
    assert _indicators() == before


def test_quota_exceeded_stops_the_run_when_configured(
    user: Any, celery_worker: Any, wait_for_run: Any, datasets: Path
) -> None:
    _seed("ipv4", "138.128.150.133")
    with vt_server(datasets, api_key=_key(), quota_exceeded=True) as server:
        feed = _feed(server, owner=user, quota_per_minute=100, on_quota="stop")
        run = wait_for_run(feed_run_start(feed=feed, user=user).pk)
    assert run.status == "failed" and run.error_code == "quota_exhausted"
    assert "QuotaExceededError" in run.error_message


@pytest.mark.parametrize(("mode", "final"), [("stop_now", "stopped"), ("cancel_job", "cancelled")])
def test_cancel_during_a_quota_wait(
    api: Any, user: Any, celery_worker: Any, wait_for_run: Any, datasets: Path, mode: str, final: str
) -> None:
    earlier = datetime(2020, 1, 1, tzinfo=UTC)
    previous = {"virustotal": {"found": False, "checked_at": "2020-01-01T00:00:00+00:00"}, "other": {"x": 1}}
    first = _seed("ipv4", "138.128.150.133", enrichment=previous, enriched_at=earlier)
    for kind, value in list(RECORDED)[1:]:
        _seed(kind, value)
    before = _indicators()
    with vt_server(datasets, api_key=_key()) as server:
        feed = _feed(server, owner=user, quota_per_minute=2, quota_window_seconds=120)
        run = feed_run_start(feed=feed, user=user)
        wait_until(lambda: (r := FeedRun.objects.get(pk=run.pk)).stage == "waiting" and r.fetched == 2)
        response = api.post(f"/api/threat-feeds/cancel-task/{run.task_id}/", {"mode": mode}, format="json")
        assert response.status_code == 202, response.content
        run = wait_for_run(run.pk, timeout=10)  # far below the 120 s quota window
        assert len(server.times) == 2
    assert run.status == final
    if mode == "cancel_job":
        assert _indicators() == before  # previous enrichment back exactly, new ones gone
        assert not IndicatorEnrichment.objects.exists()
        assert run.objects_restored == 2
    else:
        kept = Indicator.objects.get(pk=first.pk)
        assert kept.enrichment["other"] == {"x": 1} and kept.enrichment["virustotal"]["found"] is True
        assert IndicatorEnrichment.objects.filter(run=run).count() == 2 == run.objects_kept


def test_two_runs_sharing_a_key_never_exceed_its_quota_together(
    user: Any, celery_worker: Any, wait_for_run: Any, datasets: Path
) -> None:
    for n in range(8):
        _seed("ipv4", f"198.51.100.{n + 1}")
        _seed("domain", f"host{n}.example")
    per_window, window = 4, 3.0
    quota = {"quota_per_minute": per_window, "quota_window_seconds": window}
    with vt_server(datasets, api_key=_key()) as server:
        runs = [
            feed_run_start(feed=_feed(server, name="vt ips", owner=user, kinds=["ipv4"], **quota), user=user),
            feed_run_start(
                feed=_feed(server, name="vt domains", owner=user, kinds=["domain"], **quota), user=user
            ),
        ]
        done = [wait_for_run(run.pk, timeout=60) for run in runs]
        times = sorted(server.times)
    assert [r.status for r in done] == ["completed", "completed"]
    assert [r.fetched for r in done] == [8, 8] and len(times) == 16
    assert done[0].started_at < done[1].finished_at and done[1].started_at < done[0].finished_at  # concurrent
    # Any window (less the request's own travel time) saw at most the quota, whichever run sent it.
    slack = 0.2
    busiest = max(sum(1 for t in times if start <= t < start + window - slack) for start in times)
    assert busiest <= per_window
    assert times[-1] - times[0] >= (16 / per_window - 1) * window - slack
