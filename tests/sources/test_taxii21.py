"""TAXII 2.1 source against real medallion (ATT&CK ICS) and against scripted hostile servers."""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.peers.medallion_server import MedallionServer, medallion_server
from tests.peers.scripted_http import TAXII_JSON, Reply, Seen, scripted_server
from threat_feeds.control.checkpoint import RunCheckpoint, RunInterrupted
from threat_feeds.sources.base import FeedConfig, Page, SourceError
from threat_feeds.sources.taxii21 import Taxii21Source, _just_before

ICS = "attack/attack-ics-v18.1-stix21.json.gz"
FAKE_COLLECTION = "c0ffee00-0000-4000-8000-000000000001"
OBJECTS_PATH = f"/api/collections/{FAKE_COLLECTION}/objects/"


class RecordingCheckpoint(RunCheckpoint):
    """The real checkpoint, also noting where it was reached, its stages and what it waited for."""

    def __init__(self) -> None:
        self.stages: list[str] = []
        super().__init__(on_stage=self.stages.append)
        self.wheres: list[str] = []
        self.waits: list[tuple[float, str]] = []

    def __call__(self, where: str) -> None:
        self.wheres.append(where)
        super().__call__(where)

    def wait(self, seconds: float, *, reason: str) -> None:
        self.waits.append((seconds, reason))
        super().wait(seconds, reason=reason)


def objects_of(pages: list[Page]) -> list[dict[str, Any]]:
    return [obj for page in pages for obj in page.objects]


# --- against medallion serving ATT&CK ICS v18.1 ------------------------------------------------


@pytest.fixture(scope="module")
def ics_objects(datasets: Path) -> list[dict[str, Any]]:
    with gzip.open(datasets / ICS, "rt", encoding="utf-8") as handle:
        return json.load(handle)["objects"]


@pytest.fixture(scope="module")
def ics_server(
    ics_objects: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MedallionServer]:
    with medallion_server(ics_objects, tmp_path_factory.mktemp("medallion")) as server:
        yield server


def medallion_source(
    server: MedallionServer, *, page_size: int = 100, password: str | None = None, **kw: Any
) -> Taxii21Source:
    config = FeedConfig(
        source_type="taxii21",
        url=server.api_root_url,
        collection_id=server.collection_id,
        username=server.username,
        password=server.password if password is None else password,
        page_size=page_size,
        allow_private_urls=kw.pop("allow_private_urls", True),
        **kw,
    )
    return Taxii21Source(config, RecordingCheckpoint())


@pytest.mark.parametrize("page_size", [100, 1000])  # medallion clamps 1000 to its max_page_size of 100
def test_fetches_every_ics_object_exactly_once_and_unchanged(
    ics_server: MedallionServer, ics_objects: list[dict[str, Any]], manifest: dict[str, Any], page_size: int
) -> None:
    source = medallion_source(ics_server, page_size=page_size)
    pages = list(source.pages({}))
    source.close()

    fetched = objects_of(pages)
    assert len(fetched) == manifest[ICS]["objects"] == 1826
    assert collections.Counter(obj["type"] for obj in fetched) == manifest[ICS]["by_type"]
    by_id = {obj["id"]: obj for obj in ics_objects}
    assert len({obj["id"] for obj in fetched}) == len(fetched)
    assert all(obj == by_id[obj["id"]] for obj in fetched)
    assert [len(page.objects) for page in pages] == [100] * 18 + [26]
    assert pages[-1].cursor == {"added_after": ics_server.date_added[-1]}
    assert source.checkpoint.stages == ["connecting", "fetching"]  # type: ignore[attr-defined]


def test_resumes_from_the_cursor_with_the_rest_and_the_boundary_instant_again(
    ics_server: MedallionServer, ics_objects: list[dict[str, Any]]
) -> None:
    first = medallion_source(ics_server).pages({})
    taken = [next(first) for _ in range(3)]
    first.close()
    cursor = taken[-1].cursor
    assert cursor == {"added_after": ics_server.date_added[299]}

    rest = objects_of(list(medallion_source(ics_server).pages(cursor)))

    taken_ids = [obj["id"] for obj in objects_of(taken)]
    rest_ids = [obj["id"] for obj in rest]
    # added_after is exclusive: the query starts just before the boundary instant, so an object
    # sharing it can never be skipped; the one that owns it here is read again (stored: unchanged).
    assert len(taken_ids) == 300 and len(rest_ids) == 1826 - 300 + 1
    assert set(taken_ids) & set(rest_ids) == {taken_ids[-1]}
    assert sorted(set(taken_ids + rest_ids)) == sorted(obj["id"] for obj in ics_objects)


def test_resume_on_a_collection_added_in_one_instant_loses_nothing(
    ics_objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    # A collection loaded in one transaction: every object has the same date_added. The cursor of
    # any page is that instant, so an exclusive added_after from it would skip everything left.
    with medallion_server(ics_objects[:500], tmp_path, step=dt.timedelta(0)) as server:
        assert len(set(server.date_added)) == 1
        first = medallion_source(server).pages({})
        taken = [next(first) for _ in range(2)]
        first.close()
        assert taken[-1].cursor == {"added_after": server.date_added[0]}
        rest = objects_of(list(medallion_source(server).pages(taken[-1].cursor)))
    ids = {obj["id"] for obj in objects_of(taken)} | {obj["id"] for obj in rest}
    assert ids == {obj["id"] for obj in ics_objects[:500]}


def test_wrong_password_fails_with_a_clear_error(ics_server: MedallionServer) -> None:
    with pytest.raises(SourceError) as caught:
        list(medallion_source(ics_server, password="not-the-password").pages({}))
    assert caught.value.code == "auth_failed"
    assert "refused the credentials (username/password) with HTTP 401" in caught.value.message


def test_loopback_server_is_refused_unless_private_urls_are_allowed(ics_server: MedallionServer) -> None:
    with pytest.raises(SourceError) as caught:
        list(medallion_source(ics_server, allow_private_urls=False).pages({}))
    assert caught.value.code == "url_not_allowed"


def test_expired_next_token_restarts_from_the_last_page(
    ics_objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    objects = ics_objects[:250]
    with medallion_server(objects, tmp_path, next_timeout=1) as server:
        pages = medallion_source(server).pages({})
        first = next(pages)
        time.sleep(3)  # medallion sweeps tokens older than 1 s every second
        rest = list(pages)
        log = server.log.read_text()

    ids = [obj["id"] for obj in objects_of([first, *rest])]
    assert sorted(set(ids)) == sorted(obj["id"] for obj in objects)
    assert len(ids) == len(set(ids)) + 1  # the restart re-reads the last page's instant
    assert "next=" in log and '" 400 ' in log  # the token really was refused


# --- against scripted servers (what medallion cannot be made to do) ------------------------------


def taxii_reply(payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(
        status=status,
        body=json.dumps(payload).encode(),
        headers={"Content-Type": TAXII_JSON, **(headers or {})},
    )


def fake_taxii(objects: Callable[[Seen], Reply]) -> Callable[[Seen], Reply]:
    collection = {"id": FAKE_COLLECTION, "title": "fake", "can_read": True, "can_write": False}

    def handler(seen: Seen) -> Reply:
        if seen.path == f"/api/collections/{FAKE_COLLECTION}/":
            return taxii_reply(collection)
        if seen.path == OBJECTS_PATH:
            return objects(seen)
        return taxii_reply({"title": "not found"}, status=404)

    return handler


def fake_source(server_url: str, checkpoint: RunCheckpoint | None = None, **kw: Any) -> Taxii21Source:
    settings = {"backoff_base_seconds": 0.01, **kw.pop("settings", {})}
    config = FeedConfig(
        source_type="taxii21",
        url=server_url + "api/",
        collection_id=FAKE_COLLECTION,
        allow_private_urls=True,
        settings=settings,
        **kw,
    )
    return Taxii21Source(config, checkpoint or RecordingCheckpoint())


def indicator(n: int) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-01T00:00:00.000Z",
        "pattern": f"[ipv4-addr:value = '10.0.{n // 256}.{n % 256}']",
        "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z",
        "confidence": 0.5 + n,
    }


def stamp(n: int) -> str:
    return f"2024-01-01T00:00:{n:02d}.000000Z"


def objects_endpoint(replies: list[Reply]) -> Callable[[Seen], Reply]:
    """Answers the objects endpoint with `replies` in turn, repeating the last one."""

    def answer(seen: Seen) -> Reply:
        return replies.pop(0) if len(replies) > 1 else replies[0]

    return answer


def test_retry_after_on_429_is_waited_through_a_checkpoint() -> None:
    replies = [
        taxii_reply({"title": "slow down"}, status=429, headers={"Retry-After": "1"}),
        taxii_reply(
            {"objects": [indicator(1)], "more": False}, headers={"X-TAXII-Date-Added-Last": stamp(1)}
        ),
    ]
    with scripted_server(fake_taxii(objects_endpoint(replies))) as server:
        source = fake_source(server.url)
        started = time.monotonic()
        pages = list(source.pages({}))
    assert time.monotonic() - started >= 1
    assert objects_of(pages) == [indicator(1)]
    assert source.checkpoint.waits == [(1.0, "retry_after")]  # type: ignore[attr-defined]


def test_a_stop_during_a_long_retry_after_wait_is_honoured_at_once() -> None:
    always_429 = taxii_reply({"title": "slow down"}, status=429, headers={"Retry-After": "30"})
    with scripted_server(fake_taxii(lambda seen: always_429)) as server:
        checkpoint = RecordingCheckpoint()
        source = fake_source(server.url, checkpoint)
        pages = source.pages({})
        threading.Timer(0.3, checkpoint.signal, args=("stop_now",)).start()
        started = time.monotonic()
        with pytest.raises(RunInterrupted) as caught:
            next(pages)
    assert time.monotonic() - started < 1
    assert caught.value.mode == "stop_now"
    assert checkpoint.waits == [(30.0, "retry_after")]


def test_retry_after_is_capped() -> None:
    replies = [
        taxii_reply({}, status=429, headers={"Retry-After": "86400"}),
        taxii_reply({"objects": [indicator(1)]}),
    ]
    with scripted_server(fake_taxii(objects_endpoint(replies))) as server:
        source = fake_source(server.url, settings={"max_retry_after_seconds": 0.2})
        assert objects_of(list(source.pages({}))) == [indicator(1)]
    assert source.checkpoint.waits == [(0.2, "retry_after")]  # type: ignore[attr-defined]


def test_server_errors_are_retried_with_exponential_backoff_then_fail() -> None:
    replies = [
        taxii_reply({}, status=503),
        taxii_reply({}, status=500),
        taxii_reply({"objects": [indicator(2)]}),
    ]
    with scripted_server(fake_taxii(objects_endpoint(replies))) as server:
        source = fake_source(server.url)
        assert objects_of(list(source.pages({}))) == [indicator(2)]
    assert source.checkpoint.waits == [(0.01, "backoff"), (0.02, "backoff")]  # type: ignore[attr-defined]

    with scripted_server(fake_taxii(lambda seen: taxii_reply({}, status=502))) as server:
        source = fake_source(server.url, max_retries=3)
        with pytest.raises(SourceError) as caught:
            list(source.pages({}))
        assert sum(seen.path == OBJECTS_PATH for seen in server.seen) == 4
    assert caught.value.code == "server_error"
    assert "HTTP 502" in caught.value.message


def test_every_request_is_between_checkpoints() -> None:
    replies = [
        taxii_reply({"objects": [indicator(1)], "more": True, "next": "n1"}),
        taxii_reply({"objects": [indicator(2)], "more": False}),
    ]
    with scripted_server(fake_taxii(objects_endpoint(replies))) as server:
        source = fake_source(server.url)
        list(source.pages({}))
    # collection info, then two pages
    assert source.checkpoint.wheres == ["before_request", "after_request"] * 3  # type: ignore[attr-defined]
    assert len(server.seen) == 3


@pytest.mark.parametrize(
    ("reply", "code", "phrase"),
    [
        (Reply(body=b"<html>oops</html>", headers={"Content-Type": "text/html"}), "not_taxii", "text/html"),
        (Reply(body=b"{not json", headers={"Content-Type": TAXII_JSON}), "malformed_json", "not JSON"),
        (taxii_reply(["a", "list"]), "not_stix", "not a TAXII envelope"),
        (taxii_reply({"error": "x", "data": []}), "not_stix", "without an 'objects' list"),
        (taxii_reply({"objects": "nope"}), "not_stix", "not a list"),
        (taxii_reply({"objects": [1, "two", None]}), "not_stix", "none is a JSON object"),
    ],
)
def test_content_that_is_not_stix_fails_clearly(reply: Reply, code: str, phrase: str) -> None:
    with scripted_server(fake_taxii(lambda seen: reply)) as server, pytest.raises(SourceError) as caught:
        list(fake_source(server.url).pages({}))
    assert caught.value.code == code
    assert phrase in caught.value.message


def test_entries_that_are_not_objects_are_skipped_with_reasons() -> None:
    reply = taxii_reply({"objects": [indicator(1), 42, "x", indicator(2)], "more": False})
    with scripted_server(fake_taxii(lambda seen: reply)) as server:
        (page,) = list(fake_source(server.url).pages({}))
    assert page.objects == [indicator(1), indicator(2)]
    assert page.problems == [
        "objects[1] is a JSON int, not an object; skipped",
        "objects[2] is a JSON str, not an object; skipped",
    ]


def test_an_empty_envelope_is_an_empty_last_page() -> None:
    with scripted_server(fake_taxii(lambda seen: taxii_reply({}))) as server:
        pages = list(fake_source(server.url).pages({"added_after": stamp(5)}))
        assert server.seen[-1].query["added_after"] == _just_before(stamp(5))
    assert [(page.objects, page.cursor) for page in pages] == [([], {"added_after": stamp(5)})]


def test_a_server_ignoring_limit_is_paged_by_its_own_page_length() -> None:
    batch = [indicator(n) for n in range(250)]
    replies = [
        taxii_reply(
            {"objects": batch[:170], "more": True, "next": "t1"},
            headers={"X-TAXII-Date-Added-Last": stamp(1)},
        ),
        taxii_reply({"objects": batch[170:], "more": False}, headers={"X-TAXII-Date-Added-Last": stamp(2)}),
    ]
    with scripted_server(fake_taxii(objects_endpoint(replies))) as server:
        pages = list(fake_source(server.url, page_size=100).pages({}))
        queries = [seen.query for seen in server.seen if seen.path == OBJECTS_PATH]
    assert objects_of(pages) == batch
    assert [page.cursor for page in pages] == [{"added_after": stamp(1)}, {"added_after": stamp(2)}]
    assert queries == [{"limit": "100"}, {"limit": "100", "next": "t1"}]


def test_more_without_next_continues_by_added_after() -> None:
    def by_added_after(seen: Seen) -> Reply:  # 5 objects, 2 a page, no `next` tokens at all
        start = int(seen.query.get("added_after", stamp(0))[17:19])
        last = min(start + 2, 5)
        objects = [indicator(n) for n in range(start + 1, last + 1)]
        return taxii_reply(
            {"objects": objects, "more": last < 5}, headers={"X-TAXII-Date-Added-Last": stamp(last)}
        )

    with scripted_server(fake_taxii(by_added_after)) as server:
        pages = list(fake_source(server.url).pages({}))
    assert objects_of(pages) == [indicator(n) for n in range(1, 6)]


def test_refused_next_tokens_restart_a_bounded_number_of_times() -> None:
    def reject_next(seen: Seen) -> Reply:
        if "next" in seen.query:
            return taxii_reply({"title": "ProcessingError", "description": "'next' not valid"}, status=400)
        return taxii_reply(
            {"objects": [indicator(1)], "more": True, "next": "t"},
            headers={"X-TAXII-Date-Added-Last": stamp(1)},
        )

    with scripted_server(fake_taxii(reject_next)) as server:
        with pytest.raises(SourceError) as caught:
            list(fake_source(server.url).pages({}))
        queries = [seen.query for seen in server.seen if seen.path == OBJECTS_PATH]
    assert caught.value.code == "http_error"
    assert "'next' not valid" in caught.value.message
    assert len(queries) == 8  # first query + 3 restarts, each followed by a refused `next`
    assert queries[2] == {"limit": "1000", "added_after": _just_before(stamp(1))}


def test_endless_pagination_stops_at_max_pages() -> None:
    """Every page new (fresh objects, fresh tokens): only the page limit ends it."""
    counter = itertools.count(1)

    def endless(seen: Seen) -> Reply:
        n = next(counter)
        return taxii_reply({"objects": [indicator(n)], "more": True, "next": f"t{n}"})

    with scripted_server(fake_taxii(endless)) as server, pytest.raises(SourceError) as caught:
        list(fake_source(server.url, max_pages=5).pages({}))
    assert caught.value.code == "too_many_pages"


def test_the_same_next_token_with_the_same_page_is_no_progress() -> None:
    endless = taxii_reply({"objects": [indicator(1)], "more": True, "next": "again"})
    with scripted_server(fake_taxii(lambda seen: endless)) as server, pytest.raises(SourceError) as caught:
        list(fake_source(server.url).pages({}))
    assert caught.value.code == "no_progress"
    assert "same continuation 'again' twice" in caught.value.message


def test_abort_from_another_thread_ends_a_stalled_request_as_a_stop() -> None:
    """What the worker does on cancel while a read hangs: signal, then abort the source's sockets."""
    with scripted_server(fake_taxii(lambda seen: Reply(hang=30))) as server:
        checkpoint = RecordingCheckpoint()
        source = fake_source(server.url, checkpoint, request_timeout=30)
        pages = source.pages({})

        def cancel() -> None:
            checkpoint.signal("cancel_job")
            source.abort()

        threading.Timer(0.2, cancel).start()
        started = time.monotonic()
        with pytest.raises(RunInterrupted) as caught:
            next(pages)
    assert time.monotonic() - started < 1
    assert caught.value.mode == "cancel_job"


def test_api_key_goes_in_the_configured_header_instead_of_basic_auth() -> None:
    with scripted_server(fake_taxii(lambda seen: taxii_reply({"objects": [indicator(3)]}))) as server:
        source = fake_source(
            server.url, api_key="k-123", settings={"api_key_header": "X-Api-Key"}, username="u", password="p"
        )
        assert objects_of(list(source.pages({}))) == [indicator(3)]
    assert all(seen.headers.get("x-api-key") == "k-123" for seen in server.seen)
    assert all("authorization" not in seen.headers for seen in server.seen)


def test_api_key_refused_names_the_api_key() -> None:
    with scripted_server(lambda seen: Reply(status=403)) as server, pytest.raises(SourceError) as caught:
        list(fake_source(server.url, api_key="bad").pages({}))
    assert caught.value.code == "auth_failed"
    assert "(API key) with HTTP 403" in caught.value.message
    assert server.seen[0].headers["authorization"] == "bad"
