"""Outbound HTTP guard: internal addresses, redirects, size and time caps, abort."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.peers.scripted_http import Reply, Seen, scripted_server
from threat_feeds.sources.base import FeedConfig, SourceError
from threat_feeds.sources.netguard import check_url, guarded_session

INTERNAL_URLS = [
    "http://127.0.0.1/feed",
    "http://localhost:8000/taxii2/",
    "https://10.1.2.3/",
    "https://172.16.0.1/",
    "http://192.168.1.10/",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://[::1]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[::ffff:127.0.0.1]/",
]


def config(**overrides: object) -> FeedConfig:
    return FeedConfig(source_type="test", url="", **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(SourceError) as caught:
        check_url(url, allow_private=False)
    assert caught.value.code == "url_not_allowed"
    assert "private" in caught.value.message


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_addresses_are_accepted_when_allowed(url: str) -> None:
    check_url(url, allow_private=True)


def test_public_addresses_are_accepted() -> None:
    check_url("https://1.1.1.1/taxii2/", allow_private=False)
    check_url("http://[2606:4700:4700::1111]:8080/", allow_private=False)


@pytest.mark.parametrize(
    "url", ["ftp://1.1.1.1/x", "file:///etc/passwd", "gopher://1.1.1.1/", "1.1.1.1/feed"]
)
def test_schemes_other_than_http_are_refused_even_when_private_is_allowed(url: str) -> None:
    with pytest.raises(SourceError) as caught:
        check_url(url, allow_private=True)
    assert caught.value.code == "url_not_allowed"


def test_unresolvable_host_is_reported() -> None:
    with pytest.raises(SourceError) as caught:
        check_url("http://no-such-host.invalid/", allow_private=False)
    assert caught.value.code == "host_unresolvable"


def test_guarded_session_refuses_loopback_unless_allowed() -> None:
    with scripted_server(lambda seen: Reply(body=b"ok")) as server:
        with pytest.raises(SourceError) as caught:
            guarded_session(config()).get(server.url)
        assert caught.value.code == "url_not_allowed"
        assert server.seen == []
        assert guarded_session(config(allow_private_urls=True)).get(server.url).content == b"ok"


def test_redirect_to_loopback_is_refused() -> None:
    """A public feed answering 302 to 127.0.0.1 must not make the worker call itself.

    No public server exists offline, so the 302 is fetched from a local server without following
    it, then handed to a guarded session that does not allow private addresses, which follows it
    exactly as it follows any redirect.
    """
    with scripted_server(lambda seen: Reply(body=b"internal secrets")) as internal:

        def redirect(seen: Seen) -> Reply:
            return Reply(status=302, headers={"Location": internal.url_for("admin")})

        with scripted_server(redirect) as feed:
            first = guarded_session(config(allow_private_urls=True)).get(feed.url, allow_redirects=False)
            assert first.is_redirect
            with pytest.raises(SourceError) as caught:
                list(guarded_session(config()).resolve_redirects(first, first.request))
            assert caught.value.code == "url_not_allowed"
            assert internal.seen == []


def test_redirects_are_followed_when_private_is_allowed_but_not_to_other_schemes() -> None:
    with scripted_server(lambda seen: Reply(body=b"landed")) as target:
        hops = {"/go": target.url_for("x"), "/file": "file:///etc/passwd"}
        with scripted_server(lambda seen: Reply(status=302, headers={"Location": hops[seen.path]})) as feed:
            session = guarded_session(config(allow_private_urls=True))
            assert session.get(feed.url_for("go")).content == b"landed"
            with pytest.raises((SourceError, requests.exceptions.InvalidSchema)):
                session.get(feed.url_for("file"))


def test_api_key_header_is_not_forwarded_to_another_host_on_redirect() -> None:
    with scripted_server(lambda seen: Reply(body=b"elsewhere")) as other:
        other_url = other.url.replace("127.0.0.1", "localhost")
        with scripted_server(lambda seen: Reply(status=302, headers={"Location": other_url})) as feed:
            session = guarded_session(config(allow_private_urls=True))
            session.headers["X-Api-Key"] = "secret"
            session.credential_headers.add("X-Api-Key")
            assert session.get(feed.url).content == b"elsewhere"
            assert feed.seen[0].headers["x-api-key"] == "secret"
            assert "x-api-key" not in other.seen[0].headers


def test_response_over_the_size_cap_is_refused() -> None:
    body = b"x" * 200_000
    replies = {"/sized": Reply(body=body), "/chunked": Reply(chunks=[body[:100_000], body[100_000:]])}
    with scripted_server(lambda seen: replies[seen.path]) as server:
        session = guarded_session(config(allow_private_urls=True, max_response_bytes=150_000))
        for path in replies:
            with pytest.raises(SourceError) as caught:
                session.get(server.url_for(path))
            assert caught.value.code == "response_too_large", path
        # Under the cap, the same session reads normally.
        small = guarded_session(config(allow_private_urls=True, max_response_bytes=250_000))
        assert small.get(server.url_for("chunked")).content == body


def test_slow_loris_body_hits_the_response_deadline() -> None:
    dribble = Reply(chunks=iter(lambda: b".", None), chunk_delay=0.05)  # one byte every 50 ms, forever
    with scripted_server(lambda seen: dribble) as server:
        session = guarded_session(config(allow_private_urls=True, request_timeout=0.25, request_deadline=1))
        started = time.monotonic()
        with pytest.raises(SourceError) as caught:
            session.get(server.url)
        assert caught.value.code == "response_too_slow"
        assert time.monotonic() - started < 3  # the request deadline is 1 s


def test_abort_unblocks_a_stalled_request_from_another_thread() -> None:
    with scripted_server(lambda seen: Reply(hang=30)) as server:
        session = guarded_session(config(allow_private_urls=True, request_timeout=30))
        threading.Timer(0.2, session.abort).start()
        started = time.monotonic()
        with pytest.raises(requests.ConnectionError):
            session.get(server.url)
        assert time.monotonic() - started < 1


def test_the_connected_address_is_checked_too() -> None:
    """DNS may answer check_url with a public address and the connection with 127.0.0.1 (rebinding);
    the socket's real peer is checked when the connection opens, below the URL check."""
    with scripted_server(lambda seen: Reply(body=b"internal")) as server:
        pool = guarded_session(config()).adapter.poolmanager.connection_from_url(server.url)
        with pytest.raises(SourceError) as caught:
            pool.urlopen("GET", "/", retries=False)
        assert caught.value.code == "url_not_allowed"
        assert "reached 127.0.0.1" in caught.value.message
        assert server.seen == []
