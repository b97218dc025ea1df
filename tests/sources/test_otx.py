"""OTX source: recorded pulses mapped to STIX 2.1, and the SDK against a local OTX server (no worker)."""

from __future__ import annotations

import collections
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.peers.otx_server import otx_server
from threat_feeds.control.checkpoint import RunCheckpoint
from threat_feeds.pipeline.validate import validate_page
from threat_feeds.sources import get_source_class
from threat_feeds.sources.base import FeedConfig, SourceError
from threat_feeds.sources.otx import OtxSource
from threat_feeds.sources.otx_stix import map_pulse, map_pulses

PULSES = "otx/intelmq_test_parser_otx_pulses.json"
KEY = "test-otx-key"


@pytest.fixture(scope="module")
def pulses(datasets: Path) -> list[dict[str, Any]]:
    return json.loads((datasets / PULSES).read_text())


class WaitRecorder(RunCheckpoint):
    def __init__(self) -> None:
        super().__init__()
        self.waits: list[tuple[float, str]] = []

    def wait(self, seconds: float, *, reason: str) -> None:
        self.waits.append((seconds, reason))


def _source(
    url: str, *, key: str = KEY, checkpoint: RunCheckpoint | None = None, **settings: Any
) -> OtxSource:
    config = FeedConfig(source_type="otx", url=url, api_key=key, page_size=2, settings=settings,
                        allow_private_urls=True, max_retries=2)  # fmt: skip
    return OtxSource(config, checkpoint or RunCheckpoint())


def test_the_registry_knows_otx() -> None:
    assert get_source_class("otx") is OtxSource


def test_every_recorded_indicator_type_is_mapped_to_valid_stix(pulses: list[dict[str, Any]]) -> None:
    expected = collections.Counter(i["type"] for p in pulses for i in p["indicators"])
    mapped = map_pulses(pulses)
    assert not mapped.problems and not mapped.unmapped
    validation = validate_page(mapped.objects)
    assert validation.invalid == [] and len(validation.valid) == len(mapped.objects)
    by_type = collections.Counter(o["x_otx_type"] for o in mapped.objects if "x_otx_type" in o)
    assert by_type == expected
    kinds = collections.Counter(o["type"] for o in mapped.objects)
    assert kinds == {"report": len(pulses), "vulnerability": expected["CVE"],
                     "indicator": sum(expected.values()) - expected["CVE"]}  # fmt: skip
    # Every STIX indicator yields exactly one store indicator of the expected kind.
    kind_of = {"IPv4": "ipv4", "hostname": "domain", "domain": "domain", "URL": "url", "URI": "url",
               "email": "email", "FileHash-MD5": "md5", "FileHash-SHA1": "sha1", "FileHash-SHA256": "sha256"}  # fmt: skip
    for obj in validation.valid:
        if obj.type == "indicator":
            assert [k for k, _, _ in obj.indicators] == [kind_of[obj.data["x_otx_type"]]]


def test_reports_refer_to_their_pulse_objects_and_ids_are_deterministic(pulses: list[dict[str, Any]]) -> None:
    for pulse in pulses:
        first, again = map_pulse(pulse), map_pulse(copy.deepcopy(pulse))
        assert first.objects == again.objects
        report, *rest = first.objects
        assert report["type"] == "report" and report["x_otx_pulse_id"] == pulse["id"]
        assert report["object_refs"] == [o["id"] for o in rest]
        assert report["created"] <= report["modified"]
    cve = next(o for o in map_pulses(pulses).objects if o["type"] == "vulnerability")
    assert cve["name"] == "CVE-2012-0158"


def test_unmapped_types_are_counted_and_named(pulses: list[dict[str, Any]]) -> None:
    pulse = copy.deepcopy(pulses[0])
    pulse["indicators"] += [{"type": "JA3", "indicator": "e7d705a3286e19ea42f587b344ee6865"}] * 2
    mapped = map_pulses([pulse])
    assert mapped.problems == ["unmapped OTX indicator type 'JA3' (2)"]


def test_pages_follow_next_links_and_resume_after_the_cursor(pulses: list[dict[str, Any]]) -> None:
    with otx_server(pulses=pulses, page_max=2) as server:
        pages = list(_source(server.url).pages({}))
        assert [len([o for o in p.objects if o["type"] == "report"]) for p in pages] == [2, 2, 1]
        cursors = [p.cursor["modified_since"] for p in pages]
        assert cursors == sorted(cursors)
        resumed = list(_source(server.url).pages(pages[0].cursor))
    assert sum(1 for p in resumed for o in p.objects if o["type"] == "report") == 3
    assert server.requests[0]["limit"] == "2" and "modified_since" not in server.requests[0]
    assert server.requests[-1]["modified_since"] == pages[0].cursor["modified_since"]


def test_a_wrong_key_is_a_clear_error(pulses: list[dict[str, Any]]) -> None:
    with otx_server(pulses=pulses) as server, pytest.raises(SourceError) as caught:
        list(_source(server.url, key="revoked").pages({}))
    assert caught.value.code == "auth_failed" and "403" in caught.value.message


def test_a_malformed_body_is_a_clear_error(pulses: list[dict[str, Any]]) -> None:
    with otx_server(pulses=pulses, page_max=2, malformed_from_page=2) as server:
        pages = _source(server.url).pages({})
        assert next(pages).objects
        with pytest.raises(SourceError) as caught:
            next(pages)
    assert caught.value.code == "malformed_json"


def test_rate_limits_wait_for_retry_after_through_the_checkpoint(pulses: list[dict[str, Any]]) -> None:
    checkpoint = WaitRecorder()
    with otx_server(pulses=pulses, page_max=2, retry_after_every=2, retry_after_seconds=7) as server:
        pages = list(_source(server.url, checkpoint=checkpoint).pages({}))
    assert len(pages) == 3
    assert checkpoint.waits == [(7.0, "retry_after"), (7.0, "retry_after")]


def test_rate_limit_that_never_ends_fails_the_run(pulses: list[dict[str, Any]]) -> None:
    with otx_server(pulses=pulses, retry_after_every=1) as server, pytest.raises(SourceError) as caught:
        list(_source(server.url, checkpoint=WaitRecorder()).pages({}))
    assert caught.value.code == "rate_limited"
