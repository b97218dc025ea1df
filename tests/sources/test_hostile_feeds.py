"""Hostile feeds against every source, without a worker: each case ends with a clear error (or a
clear invalid object) within a bound on time and memory, and the same source then reads a good page.

Every server here is a scripted one on 127.0.0.1 (tests/peers/scripted_http.py).
"""

from __future__ import annotations

import gzip
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.peers.scripted_http import TAXII_JSON, Reply, Seen, scripted_server
from tests.sources.test_taxii21 import OBJECTS_PATH, fake_source, fake_taxii, indicator, stamp, taxii_reply
from threat_feeds.control.checkpoint import RunCheckpoint
from threat_feeds.pipeline.validate import validate_page
from threat_feeds.sources.base import FeedConfig, Page, SourceError
from threat_feeds.sources.otx import OtxSource
from threat_feeds.sources.stix_bundle import StixBundleSource

MB = 1024 * 1024


@contextmanager
def bounded(*, seconds: float, rss_mb: float) -> Iterator[None]:
    """Asserts the block took under `seconds` and this process's RSS grew by under `rss_mb`."""
    process = psutil.Process()
    start_rss = process.memory_info().rss
    peak = [start_rss]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        yield
    finally:
        done.set()
        sampler.join()
    elapsed = time.monotonic() - started
    grown = (peak[0] - start_rss) / MB
    assert elapsed < seconds, f"took {elapsed:.1f} s (bound {seconds} s)"
    assert grown < rss_mb, f"RSS grew by {grown:.0f} MB (bound {rss_mb} MB)"


def objects_of(pages: list[Page]) -> list[dict[str, Any]]:
    return [obj for page in pages for obj in page.objects]


def nested(levels: int, leaf: bytes = b"1") -> bytes:
    return b"[" * levels + leaf + b"]" * levels


def deep_object(levels: int) -> bytes:
    """An indicator whose extension property is nested `levels` deep."""
    good = json.dumps(indicator(99))[:-1].encode()
    return good + b', "x_deep": ' + nested(levels) + b"}"


def envelope(*entries: bytes, more: bool = False) -> bytes:
    return b'{"more": ' + (b"true" if more else b"false") + b', "objects": [' + b", ".join(entries) + b"]}"


def good_page_reply() -> Reply:
    return taxii_reply(
        {"objects": [indicator(7)], "more": False}, headers={"X-TAXII-Date-Added-Last": stamp(9)}
    )


def then_a_good_page_is_read(server_url: str, switch: dict[str, bool]) -> None:
    switch["good"] = True
    pages = list(fake_source(server_url).pages({}))
    assert objects_of(pages) == [indicator(7)]


def taxii_fails(
    server_url: str, *, seconds: float, rss_mb: float, **kw: Any
) -> pytest.ExceptionInfo[SourceError]:
    with bounded(seconds=seconds, rss_mb=rss_mb), pytest.raises(SourceError) as caught:
        list(fake_source(server_url, **kw).pages({}))
    return caught


def switchable(hostile: Callable[[Seen], Reply]) -> tuple[Callable[[Seen], Reply], dict[str, bool]]:
    switch = {"good": False}
    return fake_taxii(lambda seen: good_page_reply() if switch["good"] else hostile(seen)), switch


# --- TAXII pages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [300, 100_000, 1_000_000])
def test_a_deep_object_inside_a_good_page_is_invalid_and_the_page_goes_on(levels: int) -> None:
    body = envelope(json.dumps(indicator(1)).encode(), deep_object(levels), json.dumps(indicator(2)).encode())
    reply = Reply(body=body, headers={"Content-Type": TAXII_JSON, "X-TAXII-Date-Added-Last": stamp(3)})
    script, switch = switchable(lambda seen: reply)
    with scripted_server(script) as server, bounded(seconds=10, rss_mb=150):
        (page,) = list(fake_source(server.url).pages({}))
        then_a_good_page_is_read(server.url, switch)
    assert page.objects == [indicator(1), indicator(2)]
    assert page.problems == ["objects[1] is nested deeper than 64 levels; skipped"]
    assert page.cursor == {"added_after": stamp(3)}  # the cursor moves past the page
    assert len(validate_page(page.objects).valid) == 2


def test_an_object_over_the_size_limit_is_invalid_and_the_page_goes_on() -> None:
    big = json.dumps({**indicator(5), "description": "x" * 300_000}).encode()
    reply = Reply(body=envelope(big, json.dumps(indicator(1)).encode()), headers={"Content-Type": TAXII_JSON})
    with scripted_server(fake_taxii(lambda seen: reply)) as server:
        (page,) = list(fake_source(server.url, max_object_bytes=100_000).pages({}))
    assert page.objects == [indicator(1)]
    assert page.problems == ["objects[0] is larger than 100000 bytes; skipped"]


def test_a_page_that_is_nested_arrays_all_the_way_down_is_not_stix() -> None:
    reply = Reply(body=nested(1_000_000), headers={"Content-Type": TAXII_JSON})
    script, switch = switchable(lambda seen: reply)
    with scripted_server(script) as server:
        caught = taxii_fails(server.url, seconds=10, rss_mb=150)
        then_a_good_page_is_read(server.url, switch)
    assert caught.value.code == "not_stix"


@pytest.mark.parametrize("how", ["content-length", "chunked", "gzip"])
def test_a_page_over_the_response_cap_fails_with_response_too_large(how: str) -> None:
    body = envelope(*[json.dumps(indicator(n)).encode() for n in range(4000)])  # ~1.4 MB
    headers = {"Content-Type": TAXII_JSON}
    if how == "content-length":
        reply = Reply(body=body, headers=headers)
    elif how == "chunked":
        reply = Reply(chunks=[body[i : i + 65536] for i in range(0, len(body), 65536)], headers=headers)
    else:  # a few KB on the wire, inflated past the cap
        reply = Reply(body=gzip.compress(body), headers={**headers, "Content-Encoding": "gzip"})
        assert len(reply.body) < 200_000
    script, switch = switchable(lambda seen: reply)
    with scripted_server(script) as server:
        caught = taxii_fails(server.url, max_response_bytes=1_000_000, seconds=10, rss_mb=100)
        then_a_good_page_is_read(server.url, switch)
    assert caught.value.code == "response_too_large"


def test_a_page_with_too_many_json_values_fails_with_response_too_large() -> None:
    flood = json.dumps({**indicator(1), "x_flood": [{}] * 200_000}).encode()  # {} costs 64 bytes each
    reply = Reply(body=envelope(flood), headers={"Content-Type": TAXII_JSON})
    with scripted_server(fake_taxii(lambda seen: reply)) as server, pytest.raises(SourceError) as caught:
        list(fake_source(server.url, max_json_values=100_000).pages({}))
    assert caught.value.code == "response_too_large"
    assert "more than 100000 values" in caught.value.message


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (
            Reply(body=b'{"objects": [{"type": "indicator", ', headers={"Content-Type": TAXII_JSON}),
            "malformed_json",
        ),
        (Reply(body=b"\xff\xfe garbage", headers={"Content-Type": TAXII_JSON}), "malformed_json"),
        (taxii_reply({"objects": [[1], [2]]}), "not_stix"),
        (Reply(body=b"<html>login</html>", headers={"Content-Type": "text/html"}), "not_taxii"),
    ],
)
def test_malformed_and_non_stix_pages_fail_clearly(reply: Reply, code: str) -> None:
    script, switch = switchable(lambda seen: reply)
    with scripted_server(script) as server:
        caught = taxii_fails(server.url, seconds=5, rss_mb=50)
        then_a_good_page_is_read(server.url, switch)
    assert caught.value.code == code


def test_endless_pagination_with_the_same_token_stops_with_no_progress() -> None:
    endless = taxii_reply({"objects": [indicator(1)], "more": True, "next": "same"})
    script, switch = switchable(lambda seen: endless)
    with scripted_server(script) as server:
        caught = taxii_fails(server.url, seconds=5, rss_mb=50)
        served = sum(seen.path == OBJECTS_PATH for seen in server.seen)
        then_a_good_page_is_read(server.url, switch)
    assert caught.value.code == "no_progress"
    assert served == 2


def test_endless_empty_pages_with_new_tokens_stop_with_no_progress() -> None:
    counter = itertools.count()
    script, switch = switchable(
        lambda seen: taxii_reply({"objects": [], "more": True, "next": f"t{next(counter)}"})
    )
    with scripted_server(script) as server:
        caught = taxii_fails(server.url, max_idle_pages=5, seconds=5, rss_mb=50)
        served = sum(seen.path == OBJECTS_PATH for seen in server.seen)
        then_a_good_page_is_read(server.url, switch)
    assert caught.value.code == "no_progress"
    assert served == 5


def test_slow_loris_headers_hit_the_request_deadline() -> None:
    dribble = Reply(header_delay=0.05, headers={"Content-Type": TAXII_JSON})  # one byte every 50 ms
    script, switch = switchable(lambda seen: dribble)
    with scripted_server(script) as server:
        caught = taxii_fails(server.url, request_deadline=1.0, seconds=4, rss_mb=50)
        then_a_good_page_is_read(server.url, switch)
    assert caught.value.code == "response_too_slow"


def test_slow_loris_body_hits_the_request_deadline() -> None:
    body = envelope(json.dumps(indicator(1)).encode())
    dribble = Reply(chunks=[bytes([b]) for b in body], chunk_delay=0.05, headers={"Content-Type": TAXII_JSON})
    script, switch = switchable(lambda seen: dribble)
    with scripted_server(script) as server:
        caught = taxii_fails(server.url, request_deadline=1.0, seconds=4, rss_mb=50)
        then_a_good_page_is_read(server.url, switch)
    assert caught.value.code == "response_too_slow"


# --- STIX bundles (streamed) --------------------------------------------------------------------


def bundle_source(url: str, **kw: Any) -> StixBundleSource:
    config = FeedConfig(source_type="stix_bundle", url=url, allow_private_urls=True, page_size=100, **kw)
    return StixBundleSource(config, RunCheckpoint())


def bundle(*entries: bytes) -> bytes:
    return b'{"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000001", "objects": [' + (
        b", ".join(entries) + b"]}"
    )


def test_a_2_mb_bundle_of_nested_arrays_is_one_invalid_object_in_bounded_memory() -> None:
    """The upload that took a worker child to 17 GB."""
    body = bundle(json.dumps(indicator(1)).encode(), nested(1_000_000), json.dumps(indicator(2)).encode())
    assert len(body) > 2_000_000
    with scripted_server(lambda seen: Reply(body=body)) as server, bounded(seconds=10, rss_mb=100):
        pages = list(bundle_source(server.url).pages({}))
    assert objects_of(pages) == [indicator(1), indicator(2)]
    assert pages[0].problems == ["objects[1] is nested deeper than 64 levels; skipped"]
    assert pages[-1].cursor and pages[-1].cursor["completed"]


def test_a_bundle_nested_from_its_top_is_not_stix() -> None:
    with (
        scripted_server(lambda seen: Reply(body=nested(1_000_000))) as server,
        bounded(seconds=10, rss_mb=100),
        pytest.raises(SourceError) as caught,
    ):
        list(bundle_source(server.url).pages({}))
    assert caught.value.code == "not_stix"


@pytest.mark.parametrize("how", ["gzip-file", "content-encoding", "plain"])
def test_a_bundle_inflating_past_the_bundle_cap_fails_with_response_too_large(how: str) -> None:
    body = bundle(*[json.dumps(indicator(n)).encode() for n in range(30_000)])  # ~10 MB inflated
    if how == "gzip-file":
        reply = Reply(body=gzip.compress(body), headers={"Content-Type": "application/gzip"})
    elif how == "content-encoding":
        reply = Reply(body=gzip.compress(body), headers={"Content-Encoding": "gzip"})
    else:
        reply = Reply(chunks=[body[i : i + 65536] for i in range(0, len(body), 65536)])
    with (
        scripted_server(lambda seen: reply) as server,
        bounded(seconds=20, rss_mb=100),
        pytest.raises(SourceError) as caught,
    ):
        list(bundle_source(server.url, max_bundle_bytes=3_000_000).pages({}))
    assert caught.value.code == "response_too_large"


def test_a_bundle_page_ends_at_the_page_byte_budget() -> None:
    entries = [json.dumps({**indicator(n), "description": "d" * 10_000}).encode() for n in range(50)]
    with scripted_server(lambda seen: Reply(body=bundle(*entries))) as server:
        pages = list(bundle_source(server.url, max_response_bytes=200_000).pages({}))
    assert len(objects_of(pages)) == 50
    assert len(pages) > 1 and all(len(page.objects) < 50 for page in pages)


def test_the_values_limit_bounds_each_bundle_page_not_the_whole_bundle() -> None:
    entries = [json.dumps(indicator(n)).encode() for n in range(3000)]  # ~12 values each, 1 MB
    with scripted_server(lambda seen: Reply(body=bundle(*entries))) as server:
        config = FeedConfig(source_type="stix_bundle", url=server.url, allow_private_urls=True, page_size=10_000,
                            max_json_values=5000)  # fmt: skip
        pages = list(StixBundleSource(config, RunCheckpoint()).pages({}))
    assert len(objects_of(pages)) == 3000  # 36,000 values in all
    assert len(pages) > 3 and all(len(page.objects) < 1000 for page in pages)


def test_a_utf8_byte_order_mark_before_a_taxii_page_is_accepted() -> None:
    reply = Reply(body=b"\xef\xbb\xbf" + envelope(json.dumps(indicator(1)).encode()),
                  headers={"Content-Type": TAXII_JSON})  # fmt: skip
    with scripted_server(fake_taxii(lambda seen: reply)) as server:
        assert objects_of(list(fake_source(server.url).pages({}))) == [indicator(1)]


def test_a_bundle_dribbled_slowly_hits_the_stream_deadline() -> None:
    body = bundle(json.dumps(indicator(1)).encode())
    dribble = Reply(chunks=[bytes([b]) for b in body], chunk_delay=0.05)
    with (
        scripted_server(lambda seen: dribble) as server,
        bounded(seconds=4, rss_mb=50),
        pytest.raises(SourceError) as caught,
    ):
        list(bundle_source(server.url, stream_deadline=1.0).pages({}))
    assert caught.value.code == "response_too_slow"


def test_bundle_headers_dribbled_slowly_hit_the_request_deadline() -> None:
    with (
        scripted_server(lambda seen: Reply(header_delay=0.05)) as server,
        bounded(seconds=4, rss_mb=50),
        pytest.raises(SourceError) as caught,
    ):
        list(bundle_source(server.url, request_deadline=1.0).pages({}))
    assert caught.value.code == "response_too_slow"


# --- OTX pages ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pulses(datasets: Path) -> list[dict[str, Any]]:
    return json.loads((datasets / "otx" / "intelmq_test_parser_otx_pulses.json").read_text())


def otx_source(url: str, **kw: Any) -> OtxSource:
    config = FeedConfig(source_type="otx", url=url, api_key="k", allow_private_urls=True, max_retries=0, **kw)
    return OtxSource(config, RunCheckpoint())


def test_a_deep_pulse_is_invalid_and_the_rest_of_the_page_goes_on(pulses: list[dict[str, Any]]) -> None:
    good = json.dumps(pulses[0]).encode()
    body = b'{"next": null, "results": [' + good + b", " + nested(500_000) + b"]}"
    with (
        scripted_server(
            lambda seen: Reply(body=body, headers={"Content-Type": "application/json"})
        ) as server,
        bounded(seconds=10, rss_mb=100),
    ):
        (page,) = list(otx_source(server.url).pages({}))
    assert page.objects and "results[1] is nested deeper than 64 levels; skipped" in page.problems


def test_otx_repeating_its_next_link_stops_with_no_progress(pulses: list[dict[str, Any]]) -> None:
    def same_next(seen: Seen) -> Reply:
        body = {"next": f"{server.url}api/v1/pulses/subscribed?page=2", "results": pulses[:1]}
        return Reply(body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})

    with (
        scripted_server(same_next) as server,
        bounded(seconds=5, rss_mb=50),
        pytest.raises(SourceError) as caught,
    ):
        list(otx_source(server.url).pages({}))
        assert len(server.seen) == 2  # the first page, then page 2 naming itself as next
    assert caught.value.code == "no_progress"


def test_otx_next_link_with_braces_is_taken_literally(pulses: list[dict[str, Any]]) -> None:
    def braces(seen: Seen) -> Reply:
        nxt = f"{server.url}api/v1/pulses/subscribed?q={{0}}{{x}}" if not seen.query.get("q") else None
        return Reply(body=json.dumps({"next": nxt, "results": pulses[:1] if nxt else []}).encode(),
                     headers={"Content-Type": "application/json"})  # fmt: skip

    with scripted_server(braces) as server:
        list(otx_source(server.url).pages({}))
        assert server.seen[-1].query["q"] == "{0}{x}"


def test_otx_slow_loris_headers_hit_the_request_deadline() -> None:
    with (
        scripted_server(lambda seen: Reply(header_delay=0.05)) as server,
        bounded(seconds=4, rss_mb=50),
        pytest.raises(SourceError) as caught,
    ):
        list(otx_source(server.url, request_deadline=1.0).pages({}))
    assert caught.value.code == "response_too_slow"
