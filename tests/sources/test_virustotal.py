"""VirusTotal source through vt-py against the local v3 API, and the shared Redis quota (no worker)."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

from tests.peers.vt_server import vt_server
from threat_feeds.control.checkpoint import RunCheckpoint, RunInterrupted
from threat_feeds.control.ratelimit import QuotaLimiter
from threat_feeds.sources import get_source_class
from threat_feeds.sources.base import FeedConfig, SourceError
from threat_feeds.sources.virustotal import VirusTotalSource

KEY = "test-vt-key"


def _source(url: str, key: str = KEY, checkpoint: RunCheckpoint | None = None) -> VirusTotalSource:
    return VirusTotalSource(
        FeedConfig(source_type="virustotal", url=url, api_key=key, allow_private_urls=True),
        checkpoint or RunCheckpoint(),
    )


def test_the_registry_knows_virustotal() -> None:
    assert get_source_class("virustotal") is VirusTotalSource


@pytest.mark.parametrize(
    ("kind", "value", "malicious"),
    [
        ("ipv4", "138.128.150.133", 4),
        ("domain", "tawuhoju.com", 6),
        ("url", "http://soclosebutyetqq.com/69.exe", 11),
        ("sha256", "4bc00f7d638e042da764e8648c03c0db46700599dd4f08d117e3e9e8b538519b", 47),
        ("sha1", "0c7fc8364e7ead164b5b612982984737fb50fc81", 40),
    ],
)
def test_lookups_return_the_recorded_verdicts(datasets: Path, kind: str, value: str, malicious: int) -> None:
    with vt_server(datasets, api_key=KEY) as server:
        source = _source(server.url)
        try:
            result = source.lookup(kind, value)
        finally:
            source.close()
    assert result["found"] is True and result["last_analysis_stats"]["malicious"] == malicious
    assert {"reputation", "tags", "first_seen", "last_seen"} <= set(result)


def test_not_found_is_a_result_and_a_bad_key_an_error(datasets: Path) -> None:
    with vt_server(datasets, api_key=KEY) as server:
        source, bad = _source(server.url), _source(server.url, key="revoked")
        try:
            assert source.lookup("domain", "unknown.example") == {"found": False}
            with pytest.raises(SourceError) as caught:
                bad.lookup("domain", "tawuhoju.com")
        finally:
            source.close()
            bad.close()
    assert caught.value.code == "auth_failed"


def test_a_cancel_interrupts_a_request_in_flight(datasets: Path) -> None:
    checkpoint = RunCheckpoint()
    with vt_server(datasets, api_key=KEY, delay=30) as server:
        source = _source(server.url, checkpoint=checkpoint)
        checkpoint.on_signal(source.abort)
        threading.Timer(0.3, checkpoint.signal, args=["cancel_job"]).start()
        started = time.monotonic()
        try:
            with pytest.raises(RunInterrupted):
                source.lookup("domain", "tawuhoju.com")
        finally:
            source.close()
    assert time.monotonic() - started < 5


def _limiter(key: str, **options: object) -> QuotaLimiter:
    client = redis.Redis.from_url(settings.REDIS_URL)
    return QuotaLimiter(name="test", api_key=key, client=client, **options)  # type: ignore[arg-type]


def test_the_quota_is_shared_by_every_limiter_of_one_key() -> None:
    key = uuid.uuid4().hex
    one, two = _limiter(key, per_window=3, window_seconds=60), _limiter(key, per_window=3, window_seconds=60)
    other = _limiter(uuid.uuid4().hex, per_window=3, window_seconds=60)
    try:
        granted = [one.acquire().granted, two.acquire().granted, one.acquire().granted]
        refused = two.acquire()
        assert granted == [True, True, True]
        assert (
            not refused.granted and refused.scope == "window" and 60 < refused.wait_seconds <= 61.2
        )  # the window plus its jitter margin
        assert other.acquire().granted  # another key has a quota of its own
        assert key not in "".join(one.keys)  # keys are named by a hash, never the key itself
    finally:
        one.reset()
        other.reset()


def test_the_window_slides_and_the_day_quota_holds() -> None:
    limiter = _limiter(uuid.uuid4().hex, per_window=2, window_seconds=0.5, per_day=3)
    try:
        assert limiter.acquire().granted and limiter.acquire().granted
        assert not limiter.acquire().granted
        time.sleep(0.8)  # the 0.5 s window plus its 0.25 s jitter margin
        assert limiter.acquire().granted
        time.sleep(0.8)
        day = limiter.acquire()
        assert not day.granted and day.scope == "day" and day.wait_seconds > 86000
    finally:
        limiter.reset()
