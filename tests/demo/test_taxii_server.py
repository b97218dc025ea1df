"""The demo TAXII 2.1 server, exercised with the real taxii2-client (as the ingester will be)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
import requests
import stix2
from django.conf import settings
from stix2patterns.validator import run_validator
from taxii2client.v21 import Collection, Server, as_pages

from threat_feeds.demo import generator
from threat_feeds.demo.taxii_server import RunningServer, ServerConfig, start_in_process, start_in_thread
from threat_feeds.demo.throughput import fetch_all_ceiling

ACCEPT = {"Accept": "application/taxii+json;version=2.1"}
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def serve() -> Iterator:
    started: list[RunningServer] = []

    def _start(**kwargs) -> RunningServer:
        running = start_in_thread(ServerConfig(**kwargs))
        started.append(running)
        return running

    yield _start
    for running in started:
        running.stop()


def collection_of(running: RunningServer, user: str | None = "u", password: str | None = "p") -> Collection:
    return Collection(
        f"{running.api_root_url}collections/{running.collection_id}/", user=user, password=password
    )


def objects_url(running: RunningServer) -> str:
    return f"{running.api_root_url}collections/{running.collection_id}/objects/"


def test_pages_through_2500_valid_objects(serve) -> None:
    running = serve(objects=2500, page_max=1000, username="u", password="p")
    server = Server(running.discovery_url, user="u", password="p")
    assert [root.url for root in server.api_roots] == [running.api_root_url]
    assert [c.id for c in server.api_roots[0].collections] == [running.collection_id]

    envelopes = list(as_pages(collection_of(running).get_objects, per_request=1000))
    objects = [obj for env in envelopes for obj in env["objects"]]
    assert [len(env["objects"]) for env in envelopes] == [1000, 1000, 500]
    assert [env["more"] for env in envelopes] == [True, True, False]
    assert len(objects) == 2500
    assert len({obj["id"] for obj in objects}) == 2500

    identity = generator.identity_id()
    seen: set[str] = set()
    types = set()
    for obj in objects:
        stix2.parse(obj, allow_custom=False)  # all of them: required properties, ids, vocabularies
        assert obj["spec_version"] == "2.1"
        assert TS.match(obj["created"]) and TS.match(obj["modified"])
        assert obj.get("created_by_ref") == identity or obj["id"] == identity
        assert "synthetic" in obj["labels"] and "ynthetic" in obj["description"]
        if obj["type"] == "indicator":
            assert run_validator(obj["pattern"], stix_version="2.1") == []
        if obj["type"] == "relationship":  # references point back at objects already delivered
            assert obj["source_ref"] in seen and obj["target_ref"] in seen
        if obj["type"] == "report":
            assert set(obj["object_refs"]) <= seen
        seen.add(obj["id"])
        types.add(obj["type"])
    assert types == {
        "identity",
        "indicator",
        "malware",
        "threat-actor",
        "intrusion-set",
        "attack-pattern",
        "relationship",
        "report",
    }
    patterns = " ".join(obj["pattern"] for obj in objects if obj["type"] == "indicator")
    for needle in ("ipv4-addr:value", "domain-name:value", "url:value", "file:hashes.'SHA-256'"):
        assert needle in patterns
    assert "email-addr:value" in patterns and "] OR [" in patterns


def test_values_stay_in_documentation_ranges() -> None:
    text = ",".join(generator.DemoCollection(5000).render_range(0, 5000))
    for ip in re.findall(r"ipv4-addr:value = '([^']+)'", text):
        assert ip.rsplit(".", 1)[0] in ("192.0.2", "198.51.100", "203.0.113")
    for ip6 in re.findall(r"ipv6-addr:value = '([^']+)'", text):
        assert ip6.startswith("2001:db8:")
    hosts = re.findall(r"(?:domain-name:value = '|http://|@)([a-z0-9.-]+)", text)
    assert hosts and all(host.endswith((".example", ".test")) for host in hosts)


def test_generator_is_deterministic_and_uses_uuid5() -> None:
    import uuid

    for i in (0, 1, 7, 26, 199, 12345):
        expected = uuid.uuid5(generator.NAMESPACE, f"7:{i}")
        assert generator.object_at(i, seed=7)["id"] == f"{generator.object_type(i)}--{expected}"
        assert generator.object_at(i, seed=7) == generator.object_at(i, seed=7)
    assert generator.object_at(5, seed=1)["id"] != generator.object_at(5, seed=2)["id"]
    listed = list(generator.iter_objects(0, 30))
    assert [o["id"] for o in listed] == [generator.object_id(i) for i in range(30)]


def test_added_after_resumes_exactly_after_a_page(serve) -> None:
    running = serve(objects=2500, page_max=1000)
    session = requests.Session()
    first = session.get(objects_url(running), params={"limit": 1000}, headers=ACCEPT)
    assert first.headers["Content-Type"] == "application/taxii+json;version=2.1"
    assert first.headers["X-TAXII-Date-Added-First"] == "2025-01-01T00:00:00.000Z"
    last = first.headers["X-TAXII-Date-Added-Last"]
    assert last == "2025-01-01T00:00:00.999Z"

    resumed = collection_of(running, None, None).get_objects(added_after=last, limit=1000)
    assert resumed["objects"][0]["id"] == generator.object_id(1000)
    assert len(resumed["objects"]) == 1000 and resumed["more"] is True
    tail = collection_of(running, None, None).get_objects(added_after="2025-01-01T00:00:02.499Z")
    assert tail == {"more": False, "objects": []}


def test_limit_is_clamped_and_client_still_gets_everything(serve) -> None:
    running = serve(objects=2500, page_max=400)
    page = collection_of(running, None, None).get_objects(limit=5000)
    assert len(page["objects"]) == 400 and page["more"] is True and page["next"]
    # taxii2-client notices the clamp and follows ``next``
    total = sum(len(env["objects"]) for env in as_pages(collection_of(running, None, None).get_objects, 5000))
    assert total == 2500
    assert set(running.server.stats.limits) == {400}


def test_bad_parameters_are_400(serve) -> None:
    running = serve(objects=100, page_max=10)
    url = objects_url(running)
    assert requests.get(url, params={"next": "garbage!"}, headers=ACCEPT).status_code == 400
    assert requests.get(url, params={"limit": "0"}, headers=ACCEPT).status_code == 400
    assert requests.get(url, params={"added_after": "yesterday"}, headers=ACCEPT).status_code == 400
    other_edition = serve(objects=100, page_max=10, version=2)
    token = requests.get(url, headers=ACCEPT).json()["next"]
    assert requests.get(objects_url(other_edition), params={"next": token}, headers=ACCEPT).status_code == 400
    assert requests.get(url, headers={"Accept": "text/html"}).status_code == 406
    assert requests.get(running.api_root_url + "nope/", headers=ACCEPT).status_code == 404


def test_basic_auth_is_required(serve) -> None:
    running = serve(objects=100, username="demo", password="demo")
    for auth in (None, ("demo", "wrong"), ("other", "demo")):
        response = requests.get(running.discovery_url, headers=ACCEPT, auth=auth)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    with pytest.raises(requests.HTTPError) as err:
        collection_of(running, "demo", "nope").get_objects()
    assert err.value.response.status_code == 401
    assert len(collection_of(running, "demo", "demo").get_objects()["objects"]) == 100


def test_pacing_delay_is_honoured(serve) -> None:
    running = serve(objects=500, page_max=100, delay=0.2)
    started = time.monotonic()
    pages = list(as_pages(collection_of(running, None, None).get_objects, per_request=100))
    assert len(pages) == 5
    assert time.monotonic() - started >= 0.9  # 5 pages x 0.2 s, with slack for timer granularity


def test_retry_after_every_nth_request(serve) -> None:
    running = serve(objects=300, page_max=100, retry_after_every=2, retry_after_seconds=3)
    session = requests.Session()
    assert session.get(objects_url(running), headers=ACCEPT).status_code == 200
    throttled = session.get(objects_url(running), headers=ACCEPT)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
    assert session.get(objects_url(running), headers=ACCEPT).status_code == 200
    assert running.server.stats.throttled == 1


@pytest.mark.parametrize("partial", [False, True])
def test_stall_after_pages_holds_the_read(serve, partial: bool) -> None:
    running = serve(objects=300, page_max=100, stall_after_pages=1, stall_partial=partial)
    session = requests.Session()
    assert session.get(objects_url(running), headers=ACCEPT, timeout=5).status_code == 200
    started = time.monotonic()
    with pytest.raises((requests.exceptions.Timeout, requests.exceptions.ConnectionError)):
        session.get(objects_url(running), params={"limit": 100}, headers=ACCEPT, timeout=0.5)
    assert time.monotonic() - started < 5
    assert running.server.stats.stalled == 1
    stop_started = time.monotonic()
    running.stop()  # releases the stalled handler promptly
    assert time.monotonic() - stop_started < 3


def test_later_edition_reissues_objects_with_newer_modified(serve) -> None:
    first = generator.DemoCollection(1000)
    second = generator.DemoCollection(1000, version=2)
    assert second.size == 1100
    running = serve(objects=1000, version=2, page_max=1000)
    last_of_first_edition = generator.format_ts(generator.date_added_ms(first.size - 1))
    updates = collection_of(running, None, None).get_objects(added_after=last_of_first_edition)
    assert len(updates["objects"]) == 100 and updates["more"] is False
    base = {obj["id"]: obj for obj in first.iter_objects()}
    for obj in updates["objects"]:
        old = base[obj["id"]]
        assert obj["modified"] > old["modified"] and obj["created"] == old["created"]
        stix2.parse(obj, allow_custom=False)


def test_large_collection_is_not_held_in_memory(serve) -> None:
    running = serve(objects=1_000_000, page_max=1000, cache_mb=1)
    page = collection_of(running, None, None).get_objects(added_after="2025-01-01T00:16:39.000Z")
    assert [o["id"] for o in page["objects"]] == [generator.object_id(i) for i in range(999_001, 1_000_000)]
    cache = running.server.cache
    assert cache.used <= cache.budget + 1024 * 1024


def test_throughput_helper_and_child_process_server() -> None:
    running = start_in_process(ServerConfig(objects=2500, page_max=1000, username="u", password="p"))
    try:
        count, seconds = fetch_all_ceiling(
            running.api_root_url, running.collection_id, 1000, user="u", password="p"
        )
    finally:
        running.stop()
    assert count == 2500 and seconds > 0


def test_management_command_parses_demo_defaults() -> None:
    from threat_feeds.management.commands.serve_demo_taxii import Command

    opts = vars(Command().create_parser("manage.py", "serve_demo_taxii").parse_args([]))
    assert (opts["port"], opts["objects"], opts["delay"], opts["page_size"]) == (
        settings.CRISP_DEMO_TAXII_PORT,
        20_000,
        0.3,
        100,
    )
    assert (opts["username"], opts["password"]) == ("demo", "demo")


def test_rendered_file_serves_the_same_bytes(tmp_path) -> None:
    from threat_feeds.demo.chunks import ChunkCache, RenderedFile

    collection = generator.DemoCollection(1234, version=2)
    memory, on_disk = ChunkCache(collection), RenderedFile(collection, tmp_path)
    for start, stop in ((0, 1), (0, 1000), (499, 501), (1000, 1400), (1300, 5000)):
        assert on_disk.join(start, stop) == memory.join(start, stop)
    assert len(list(tmp_path.iterdir())) == 2
    on_disk.close()
    again = RenderedFile(collection, tmp_path)  # reuses the files
    assert again.join(5, 6) == generator.DemoCollection(1234, version=2).render(5).encode()
    again.close()


def test_warm_start_prerenders_within_budget(serve) -> None:
    running = serve(objects=3000, page_max=1000, warm=True)
    cache = running.server.cache
    rendered = cache.rendered
    assert rendered == 6  # 3000 entries in chunks of 500
    collection_of(running, None, None).get_objects(limit=1000)
    assert cache.rendered == rendered  # served from the cache
