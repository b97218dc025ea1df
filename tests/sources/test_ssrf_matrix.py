"""The address guard for every source type, at feed creation (API) and at run time.

Run-time cases never connect anywhere but 127.0.0.1: a spy on socket.connect refuses (and records)
any other address, and every refusal must happen before a connection is even attempted.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from tests.peers.scripted_http import Reply, Seen, scripted_server
from threat_feeds.control.checkpoint import RunCheckpoint
from threat_feeds.sources import get_source_class, netguard, virustotal
from threat_feeds.sources.base import FeedConfig, SourceError

INTERNAL_HOSTS = [
    "127.0.0.1",
    "127.1",  # short form
    "2130706433",  # decimal
    "0177.0.0.1",  # octal
    "0x7f.0.0.1",  # hex
    "0x7f000001",
    "localhost",  # a name resolving inside
    "[::1]",
    "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6
    "[0:0:0:0:0:ffff:7f00:1]",
    "[fe80::1]",  # IPv6 link-local
    "[fc00::1]",  # IPv6 unique local
    "169.254.169.254",  # cloud metadata (link-local)
    "10.0.0.1",
    "172.16.0.1",
    "192.168.0.1",
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
]
SOURCE_TYPES = ["taxii21", "stix_bundle", "otx", "virustotal"]


@pytest.fixture
def connect_spy(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every address a socket tries to connect to; anything but 127.0.0.1 is refused, never reached."""
    attempts: list[Any] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(address: Any) -> None:
        attempts.append(address)
        if not (isinstance(address, tuple) and address[0] == "127.0.0.1"):
            raise ConnectionRefusedError(f"test refused a connection to {address!r}")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return attempts


def feed_config(source_type: str, url: str, **kw: Any) -> FeedConfig:
    return FeedConfig(source_type=source_type, url=url, collection_id="c" if source_type == "taxii21" else "",
                      api_key="secret-key", max_retries=0, **kw)  # fmt: skip


def run_source(config: FeedConfig) -> Any:
    source = get_source_class(config.source_type)(config, RunCheckpoint())
    try:
        if config.source_type == "virustotal":
            return source.lookup("domain", "example.com")  # type: ignore[attr-defined]
        return list(source.pages({}))
    finally:
        source.close()


@pytest.mark.parametrize("source_type", SOURCE_TYPES)
@pytest.mark.parametrize("host", INTERNAL_HOSTS)
def test_run_time_refuses_internal_addresses_before_connecting(
    source_type: str, host: str, connect_spy: list[Any]
) -> None:
    with pytest.raises(SourceError) as caught:
        run_source(feed_config(source_type, f"http://{host}:8/feed/"))
    assert caught.value.code == "url_not_allowed", caught.value.message
    assert connect_spy == []


@pytest.mark.django_db
@pytest.mark.parametrize("source_type", SOURCE_TYPES)
@pytest.mark.parametrize("host", INTERNAL_HOSTS)
def test_feed_creation_refuses_internal_addresses(
    api: Any, settings: Any, source_type: str, host: str
) -> None:
    settings.CRISP_ALLOW_PRIVATE_FEED_URLS = False
    body = {"name": "x", "source_type": source_type, "url": f"http://{host}:8/feed/", "collection_id": "c",
            "api_key": "k"}  # fmt: skip
    response = api.post("/api/threat-feeds/", body, format="json")
    assert response.status_code == 400, response.content
    assert "url" in str(response.json()), response.content


# --- redirects at run time ------------------------------------------------------------------------


@pytest.fixture
def loopback_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only 127.0.0.1 counts as public: a local server plays the public feed, and its redirects to
    internal addresses meet the real guard (which must refuse them before connecting)."""
    real = netguard.address_is_internal

    def internal(address: str) -> bool:
        return address != "127.0.0.1" and real(address)

    monkeypatch.setattr(netguard, "address_is_internal", internal)
    monkeypatch.setattr(virustotal, "address_is_internal", internal)


REDIRECT_TARGETS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/admin",
    "http://[::1]:8/",
    "http://0x0a000001:8/",  # 10.0.0.1 in hex
    "http://3232235521:8/",  # 192.168.0.1 in decimal
    "http://[fe80::1]:8/",
]  # (127.0.0.1 in any spelling plays the public feed here; the matrix above refuses it)


@pytest.mark.parametrize("source_type", SOURCE_TYPES)
@pytest.mark.parametrize("target", REDIRECT_TARGETS)
def test_redirects_to_internal_addresses_are_refused_before_connecting(
    source_type: str, target: str, loopback_is_public: None, connect_spy: list[Any]
) -> None:
    with scripted_server(lambda seen: Reply(status=302, headers={"Location": target})) as server:
        with pytest.raises(SourceError) as caught:
            run_source(feed_config(source_type, server.url + "feed/"))
        assert server.seen  # the "public" feed was asked
    expected = "redirect_refused" if source_type == "virustotal" else "url_not_allowed"
    assert caught.value.code == expected, caught.value.message
    assert all(address[0] == "127.0.0.1" for address in connect_spy)


def test_virustotal_never_follows_a_redirect_even_to_an_allowed_host(connect_spy: list[Any]) -> None:
    """The reported case: a 302 to another internal URL, with the x-apikey, stored as enrichment."""
    with scripted_server(lambda seen: Reply(body=b'{"data": {"type": "domain", "id": "x"}}')) as inside:

        def redirect(seen: Seen) -> Reply:
            return Reply(status=302, headers={"Location": inside.url_for("secret")})

        with scripted_server(redirect) as feed, pytest.raises(SourceError) as caught:
            run_source(feed_config("virustotal", feed.url, allow_private_urls=True))
        assert feed.seen[0].headers["x-apikey"] == "secret-key"
        assert inside.seen == []
    assert caught.value.code == "redirect_refused"


def test_virustotal_answer_over_the_size_cap_or_too_deep_is_refused() -> None:
    big = b'{"data": {"type": "domain", "id": "x", "attributes": {"tags": ["' + b"t" * 300_000 + b'"]}}}'
    deep = (
        b'{"data": {"type": "domain", "id": "x", "attributes": {"x": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}}}"
    )
    replies = {"/api/v3/domains/big.example": big, "/api/v3/domains/deep.example": deep}
    with scripted_server(
        lambda seen: Reply(body=replies[seen.path], headers={"Content-Type": "application/json"})
    ) as server:
        config = feed_config("virustotal", server.url, allow_private_urls=True, max_response_bytes=200_000)
        source = get_source_class("virustotal")(config, RunCheckpoint())
        try:
            for value in ("big.example", "deep.example"):
                with pytest.raises(SourceError) as caught:
                    source.lookup("domain", value)  # type: ignore[attr-defined]
                assert caught.value.code == "response_too_large", value
        finally:
            source.close()


def test_virustotal_slow_loris_headers_hit_the_request_deadline() -> None:
    with scripted_server(lambda seen: Reply(header_delay=0.05)) as server:
        config = feed_config("virustotal", server.url, allow_private_urls=True, request_deadline=1.0)
        started = time.monotonic()
        with pytest.raises(SourceError) as caught:
            run_source(config)
    assert caught.value.code == "response_too_slow"
    assert time.monotonic() - started < 4
