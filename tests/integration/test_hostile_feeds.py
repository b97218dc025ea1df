"""Hostile feeds against a real worker: each run ends clearly within a bound on time and on the
worker child's memory, nothing half-stored, and the same worker then completes a normal run.

The worker (prefork, one child) has small deadlines and caps so each case is quick; every server
is a scripted one on 127.0.0.1.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Self

import psutil
import pytest

from tests.peers.celery_processes import process_env, start_worker, stop
from tests.peers.scripted_http import TAXII_JSON, Reply, Seen, scripted_server
from tests.sources.test_taxii21 import FAKE_COLLECTION, fake_taxii, indicator, stamp, taxii_reply
from threat_feeds.models import FeedRun, StixObject, ThreatFeed

pytestmark = pytest.mark.django_db(transaction=True)
MB = 1024 * 1024
RSS_BOUND_MB = 300


@pytest.fixture(scope="module")
def hostile_worker(database_url: str, tmp_path_factory: Any) -> Iterator[dict[str, Any]]:
    from crisp.celery import app

    queue = f"crisp-hostile-{os.getpid()}"
    env = process_env(
        database_url,
        CRISP_REQUEST_DEADLINE_SECONDS="2",
        CRISP_STREAM_DEADLINE_SECONDS="2",
        CRISP_MAX_BUNDLE_BYTES=str(20 * MB),
        CRISP_MAX_IDLE_PAGES="3",
    )
    log = tmp_path_factory.mktemp("hostile") / "worker.log"
    process = start_worker(
        env=env, queue=queue, name=f"hostile-{os.getpid()}@localhost", log=log, concurrency=1
    )
    previous, app.conf.task_default_queue = app.conf.task_default_queue, queue
    yield {"process": process, "log": log}
    app.conf.task_default_queue = previous
    stop(process)


class RssPeak:
    """Samples the resident memory of the worker's pool children every 20 ms."""

    def __init__(self, worker_pid: int) -> None:
        self.worker = psutil.Process(worker_pid)
        self.peak = 0
        self.children: set[int] = set()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.02):
            for child in self.worker.children():
                try:
                    self.peak = max(self.peak, child.memory_info().rss)
                    self.children.add(child.pid)
                except psutil.NoSuchProcess:
                    pass

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def consume(api: Any, feed: ThreatFeed, wait_for_run: Any, *, timeout: float) -> tuple[FeedRun, float]:
    started = time.monotonic()
    response = api.post(f"/api/threat-feeds/{feed.pk}/consume/")
    assert response.status_code == 202, response.content
    run = wait_for_run(response.json()["run_id"], timeout=timeout)
    return run, time.monotonic() - started


def taxii_feed(server_url: str, user: Any, name: str) -> ThreatFeed:
    return ThreatFeed.objects.create(name=name, source_type="taxii21", url=server_url + "api/",
                                     collection_id=FAKE_COLLECTION, owner=user)  # fmt: skip


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def bundle(*entries: bytes) -> bytes:
    return b'{"type": "bundle", "id": "bundle--00000000-0000-4000-8000-0000000000b1", "objects": [' + (
        b", ".join(entries) + b"]}"
    )


def deep_indicator(levels: int) -> bytes:
    return json.dumps(indicator(50))[:-1].encode() + b', "x_deep": ' + nested(levels) + b"}"


def good(n: int) -> bytes:
    return json.dumps(indicator(n)).encode()


@functools.cache
def gzip_bomb() -> bytes:
    """About 27 MB of bundle in under 1 MB of gzip (made once: compressing takes a while)."""
    return gzip.compress(bundle(*[good(n) for n in range(80_000)]), 6)


# Each case: (source type, the server's script, expected status, error code, created (-1: any), invalid).
CASES: dict[str, tuple[str, Callable[[Seen], Reply], str, str, int, int]] = {
    "bundle_of_2mb_nested_arrays": (
        "stix_bundle", lambda seen: Reply(body=bundle(good(1), nested(1_000_000), good(2))),
        "completed", "", 2, 1,
    ),
    "gzip_bundle_inflating_past_the_cap": (
        "stix_bundle",
        lambda seen: Reply(body=gzip_bomb(),
                           headers={"Content-Type": "application/gzip"}),
        "failed", "response_too_large", -1, 0,  # pages before the cap are stored (the run can be undone)
    ),
    "bundle_dribbled_slowly": (
        "stix_bundle", lambda seen: Reply(chunks=[bytes([b]) for b in bundle(good(1))], chunk_delay=0.05),
        "failed", "response_too_slow", 0, 0,
    ),
    "taxii_page_with_an_object_nested_1m_deep": (
        "taxii21",
        fake_taxii(lambda seen: Reply(body=b'{"more": false, "objects": [' + good(1) + b", "
                                      + deep_indicator(1_000_000) + b", " + good(2) + b"]}",
                                      headers={"Content-Type": TAXII_JSON, "X-TAXII-Date-Added-Last": stamp(5)})),
        "completed", "", 2, 1,
    ),
    "taxii_page_with_an_object_nested_300_deep": (
        "taxii21",
        fake_taxii(lambda seen: Reply(body=b'{"more": false, "objects": [' + good(1) + b", "
                                      + deep_indicator(300) + b"]}",
                                      headers={"Content-Type": TAXII_JSON, "X-TAXII-Date-Added-Last": stamp(5)})),
        "completed", "", 1, 1,
    ),
    "taxii_page_nested_from_its_top": (
        "taxii21", fake_taxii(lambda seen: Reply(body=nested(1_000_000), headers={"Content-Type": TAXII_JSON})),
        "failed", "not_stix", 0, 0,
    ),
    "taxii_malformed_json": (
        "taxii21", fake_taxii(lambda seen: Reply(body=b'{"objects": [{"type": ', headers={"Content-Type": TAXII_JSON})),
        "failed", "malformed_json", 0, 0,
    ),
    "taxii_endless_pagination_same_token": (
        "taxii21", fake_taxii(lambda seen: taxii_reply({"objects": [indicator(1)], "more": True, "next": "same"})),
        "failed", "no_progress", 1, 0,
    ),
    "taxii_slow_loris_headers": (
        "taxii21", fake_taxii(lambda seen: Reply(header_delay=0.05, headers={"Content-Type": TAXII_JSON})),
        "failed", "response_too_slow", 0, 0,
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_feed_fails_or_skips_clearly_in_bounded_time_and_memory_and_the_worker_goes_on(
    case: str, api: Any, user: Any, hostile_worker: dict[str, Any], wait_for_run: Any
) -> None:
    source_type, script, status, code, created, invalid = CASES[case]
    with scripted_server(script) as server, RssPeak(hostile_worker["process"].pid) as rss:
        if source_type == "taxii21":
            feed = taxii_feed(server.url, user, case)
        else:
            feed = ThreatFeed.objects.create(
                name=case, source_type=source_type, url=server.url + "b.json", owner=user
            )
        run, elapsed = consume(api, feed, wait_for_run, timeout=60)
    print(
        f"{case}: {run.status} {run.error_code} in {elapsed:.1f} s, worker child peak RSS {rss.peak / MB:.0f} MB"
    )
    assert (run.status, run.error_code) == (status, code), run.error_message
    assert (run.created if created >= 0 else -1, run.invalid) == (created, invalid)
    if invalid:
        assert "nested deeper than 64 levels" in json.dumps(run.invalid_samples)
    if status == "completed" and source_type == "taxii21":
        assert ThreatFeed.objects.get(pk=feed.pk).cursor == {"added_after": stamp(5)}  # the cursor moved
    assert elapsed < 30
    assert rss.peak < RSS_BOUND_MB * MB

    # The same worker (its one child) then completes a normal run.
    good_page = taxii_reply(
        {"objects": [{**indicator(1), "id": f"indicator--{uuid.uuid4()}"}], "more": False},
        headers={"X-TAXII-Date-Added-Last": stamp(9)},
    )
    before = StixObject.objects.count()
    with (
        scripted_server(fake_taxii(lambda seen: good_page)) as server,
        RssPeak(hostile_worker["process"].pid) as after,
    ):
        normal, _ = consume(
            api, taxii_feed(server.url, user, f"{case} then normal"), wait_for_run, timeout=60
        )
    assert normal.status == "completed", normal.error_message
    assert StixObject.objects.count() == before + 1
    assert after.peak < RSS_BOUND_MB * MB


def test_endless_new_tokens_with_nothing_new_stop_with_no_progress(
    api: Any, user: Any, hostile_worker: dict[str, Any], wait_for_run: Any
) -> None:
    counter = itertools.count()
    script = fake_taxii(lambda seen: taxii_reply({"objects": [], "more": True, "next": f"t{next(counter)}"}))
    with scripted_server(script) as server:
        run, elapsed = consume(api, taxii_feed(server.url, user, "empty pages"), wait_for_run, timeout=60)
    assert (run.status, run.error_code) == ("failed", "no_progress")
    assert elapsed < 30
