"""STIX bundle source: real ATT&CK and vendor bundles, from a file and over HTTP, streamed."""

from __future__ import annotations

import collections
import gzip
import json
import tracemalloc
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.peers.scripted_http import Reply, scripted_server
from threat_feeds.control.checkpoint import RunCheckpoint, RunInterrupted
from threat_feeds.sources.base import FeedConfig, Page, SourceError
from threat_feeds.sources.stix_bundle import StixBundleSource

ICS = "attack/attack-ics-v18.1-stix21.json.gz"
STIX20 = "stix20/unit42-playbooks/emotet.json.gz"
ENTERPRISE = "attack/attack-enterprise-v18.1-stix20-reassembled.json.gz"


def bundle_source(
    *, page_size: int = 500, path: Path | None = None, url: str = "", **kw: Any
) -> StixBundleSource:
    settings = {"upload_path": str(path)} if path else {}
    config = FeedConfig(
        source_type="stix_bundle",
        url=url,
        page_size=page_size,
        settings=settings,
        allow_private_urls=True,
        **kw,
    )
    return StixBundleSource(config, RunCheckpoint())


def read_all(source: StixBundleSource, cursor: Mapping[str, Any] | None = None) -> list[Page]:
    try:
        return list(source.pages(cursor or {}))
    finally:
        source.close()


def objects_of(pages: list[Page]) -> list[dict[str, Any]]:
    return [obj for page in pages for obj in page.objects]


def source_objects(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)["objects"]


@pytest.mark.parametrize("name", [ICS, STIX20])
def test_local_bundle_yields_every_object_unchanged_and_in_order(
    datasets: Path, manifest: dict[str, Any], name: str
) -> None:
    pages = read_all(bundle_source(path=datasets / name, page_size=500))

    objects = objects_of(pages)
    assert len(objects) == manifest[name]["objects"]
    assert collections.Counter(obj["type"] for obj in objects) == manifest[name]["by_type"]
    assert objects == source_objects(datasets / name)
    assert all(len(page.objects) == 500 for page in pages[:-1])
    assert all(page.problems == [] for page in pages)


def test_cursor_counts_objects_and_the_last_page_marks_the_bundle_completed(datasets: Path) -> None:
    pages = read_all(bundle_source(path=datasets / ICS, page_size=500))

    bundle_id = "bundle--e4f0febd-b8cf-4272-b892-71049d272c40"
    assert [page.cursor for page in pages] == [
        {"offset": 500, "bundle_id": bundle_id},
        {"offset": 1000, "bundle_id": bundle_id},
        {"offset": 1500, "bundle_id": bundle_id},
        {"offset": 0, "bundle_id": bundle_id, "completed": True},
    ]


def test_a_bundle_that_fills_its_last_page_exactly_has_no_empty_trailing_page(datasets: Path) -> None:
    pages = read_all(bundle_source(path=datasets / ICS, page_size=913))  # 1826 = 2 x 913
    assert [len(page.objects) for page in pages] == [913, 913]
    assert pages[-1].cursor is not None and pages[-1].cursor["completed"] is True


@pytest.mark.parametrize("name", [ICS, STIX20])
@pytest.mark.parametrize("encoding", ["gzip-file", "plain", "content-encoding"])
def test_bundle_over_http_yields_every_object_unchanged(
    datasets: Path, manifest: dict[str, Any], name: str, encoding: str
) -> None:
    raw = (datasets / name).read_bytes()
    reply = {
        "gzip-file": Reply(body=raw, headers={"Content-Type": "application/gzip"}),
        "plain": Reply(body=gzip.decompress(raw), headers={"Content-Type": "application/json"}),
        "content-encoding": Reply(
            chunks=[raw[i : i + 50_000] for i in range(0, len(raw), 50_000)],
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        ),
    }[encoding]
    with scripted_server(lambda seen: reply) as server:
        pages = read_all(bundle_source(url=server.url_for("bundle.json"), page_size=400))

    objects = objects_of(pages)
    assert len(objects) == manifest[name]["objects"]
    assert objects == source_objects(datasets / name)


def test_resume_from_a_cursor_reads_exactly_the_rest(datasets: Path) -> None:
    first = bundle_source(path=datasets / ICS, page_size=300).pages({})
    taken = [next(first), next(first)]
    first.close()
    assert taken[-1].cursor is not None

    rest = read_all(bundle_source(path=datasets / ICS, page_size=300), taken[-1].cursor)

    everything = source_objects(datasets / ICS)
    assert objects_of(taken) + objects_of(rest) == everything
    assert len(objects_of(rest)) == len(everything) - 600


def test_resume_with_another_bundles_cursor_or_a_completed_one_reads_from_the_start(datasets: Path) -> None:
    everything = source_objects(datasets / ICS)
    for cursor in (
        {"offset": 600, "bundle_id": "bundle--00000000-0000-4000-8000-000000000000"},
        {"offset": 0, "bundle_id": "bundle--e4f0febd-b8cf-4272-b892-71049d272c40", "completed": True},
    ):
        assert objects_of(read_all(bundle_source(path=datasets / ICS), cursor)) == everything


def test_malformed_json_fails_with_the_byte_offset(datasets: Path, tmp_path: Path) -> None:
    text = gzip.decompress((datasets / ICS).read_bytes())
    at = text.index(b'"created": ', 300_000) + len(b'"created": ')
    (tmp_path / "bad.json").write_bytes(text[:at] + b"@" + text[at:])

    with pytest.raises(SourceError) as caught:
        read_all(bundle_source(path=tmp_path / "bad.json"))

    assert caught.value.code == "malformed_json"
    assert f"near byte {at}" in caught.value.message


def test_truncated_bundle_fails_with_the_byte_offset(datasets: Path, tmp_path: Path) -> None:
    text = gzip.decompress((datasets / ICS).read_bytes())
    (tmp_path / "cut.json.gz").write_bytes(gzip.compress(text[:250_000]))
    source = bundle_source(path=tmp_path / "cut.json.gz", page_size=100)

    with pytest.raises(SourceError) as caught:
        for _page in source.pages({}):
            pass  # the pages before the cut are still delivered
    assert caught.value.code == "malformed_json"
    assert "at byte 250000 (the text ends early)" in caught.value.message


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b'[{"type": "indicator"}]', "not_stix"),
        (b'{"type": "indicator", "id": "indicator--1", "pattern": "[x:y = 1]"}', "not_stix"),
        (b'{"hello": "world"}', "not_stix"),
        (b"<html>not json</html>", "malformed_json"),
        (b"\x1f\x8b\x08\x00garbage", "malformed_gzip"),
    ],
)
def test_content_that_is_not_a_bundle_is_refused(tmp_path: Path, content: bytes, code: str) -> None:
    (tmp_path / "upload").write_bytes(content)
    with pytest.raises(SourceError) as caught:
        read_all(bundle_source(path=tmp_path / "upload"))
    assert caught.value.code == code


def test_entries_that_are_not_objects_are_skipped_with_a_reason(tmp_path: Path) -> None:
    good = {"type": "identity", "id": "identity--1", "name": "x", "confidence": 0.5}
    bundle = {"type": "bundle", "id": "bundle--1", "objects": [good, 7, "text", None, [1], good]}
    (tmp_path / "mixed.json").write_text(json.dumps(bundle))

    pages = read_all(bundle_source(path=tmp_path / "mixed.json", page_size=100))

    assert objects_of(pages) == [good, good]
    assert isinstance(objects_of(pages)[0]["confidence"], float)
    assert pages[0].problems == [
        "objects[1] is a JSON int, not an object; skipped",
        "objects[2] is a JSON str, not an object; skipped",
        "objects[3] is a JSON NoneType, not an object; skipped",
        "objects[4] is a JSON list, not an object; skipped",
    ]


def test_an_empty_bundle_yields_one_completed_page(tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_text('{"type": "bundle", "id": "bundle--2", "objects": []}')
    pages = read_all(bundle_source(path=tmp_path / "empty.json"))
    assert [(page.objects, page.cursor) for page in pages] == [
        ([], {"offset": 0, "bundle_id": "bundle--2", "completed": True})
    ]


def test_missing_upload_and_http_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        read_all(bundle_source(path=tmp_path / "gone.json"))
    assert caught.value.code == "file_not_found"

    with scripted_server(lambda seen: Reply(status=401)) as server, pytest.raises(SourceError) as caught:
        read_all(bundle_source(url=server.url, username="u", password="wrong"))
    assert caught.value.code == "auth_failed"
    assert "401" in caught.value.message
    assert server.seen[0].headers["authorization"].startswith("Basic ")


def test_bundle_over_the_size_cap_is_refused(datasets: Path) -> None:
    raw = (datasets / ICS).read_bytes()
    reply = Reply(chunks=[raw[:200_000], raw[200_000:]])
    with scripted_server(lambda seen: reply) as server, pytest.raises(SourceError) as caught:
        read_all(bundle_source(url=server.url, max_bundle_bytes=300_000))
    assert caught.value.code == "response_too_large"


def test_a_signalled_checkpoint_stops_before_the_next_page(datasets: Path) -> None:
    checkpoint = RunCheckpoint()
    config = FeedConfig(
        source_type="stix_bundle", url="", page_size=100, settings={"upload_path": str(datasets / ICS)}
    )
    pages = StixBundleSource(config, checkpoint).pages({})
    next(pages)
    checkpoint.signal("stop_now")
    with pytest.raises(RunInterrupted):
        next(pages)


def test_memory_stays_flat_while_streaming_the_43_mb_enterprise_bundle(
    datasets: Path, manifest: dict[str, Any]
) -> None:
    source = bundle_source(path=datasets / ENTERPRISE, page_size=100)
    tracemalloc.start()
    try:
        count = 0
        for page in source.pages({}):
            count += len(page.objects)
            del page
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        source.close()

    assert count == manifest[ENTERPRISE]["objects"] == 24771
    assert manifest[ENTERPRISE]["uncompressed_bytes"] > 40_000_000
    assert peak < 15_000_000, f"peak traced memory {peak / 1e6:.1f} MB"
