"""Outbound HTTP for sources: refuses internal addresses, caps response size and time, can be aborted.

Feeds are configured by users, so a feed URL (or a redirect it answers with) must not reach the
worker's own network (SSRF), and a hostile server must not exhaust memory or hold a worker forever.
"""

from __future__ import annotations

import io
import ipaddress
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from .base import FeedConfig, SourceError
from .jsonlimits import JsonLimits, parse_limited

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_REDIRECTS = 5
READ_CHUNK = 64 * 1024


def address_is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


def check_url(url: str, *, allow_private: bool) -> None:
    """Raise SourceError(code="url_not_allowed") unless `url` is http(s) to a public address.

    Every address the host resolves to must be public: a name that resolves to both a public and
    an internal address is refused, since the connection may pick either.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SourceError(f"Feed URL {url!r} is not a valid URL: {exc}.", code="url_not_allowed") from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise SourceError(
            f"Feed URL {url!r} uses scheme {scheme or '(none)'!r}; only http and https are allowed.",
            code="url_not_allowed",
        )
    host = parts.hostname
    if not host:
        raise SourceError(f"Feed URL {url!r} has no host.", code="url_not_allowed")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, port or DEFAULT_PORTS[scheme], type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise SourceError(f"Cannot resolve feed host {host!r}: {exc}.", code="host_unresolvable") from exc
    for *_, sockaddr in infos:
        address = str(sockaddr[0])
        if address_is_internal(address):
            raise SourceError(
                f"Feed URL {url!r} resolves to {address}, a loopback/private/reserved address; "
                "such addresses are refused unless private feed URLs are allowed.",
                code="url_not_allowed",
            )


class _Deadline:
    """One request's total deadline (headers and body): a timer that aborts the adapter's sockets.

    A server dribbling its headers one byte a second never trips a socket timeout, and http.client
    reads headers without returning to us: only shutting the socket down from another thread ends it.
    """

    def __init__(self, adapter: GuardedAdapter, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._adapter = adapter
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        self.expired = True
        self._adapter.abort()

    def cancel(self) -> None:
        self._timer.cancel()

    def error(self, url: str) -> SourceError:
        self.cancel()
        return SourceError(
            f"{url} did not deliver its response within {self.seconds:g} s "
            "(CRISP_REQUEST_DEADLINE_SECONDS); gave up.",
            code="response_too_slow",
        )


class _CappedBody:
    """Wraps a urllib3 response: counts decoded bytes against a cap and enforces a deadline.

    Reads go through `read1` (one socket read each) so a server dribbling bytes (slow-loris) is
    caught between reads. A buffered body has the request's total deadline; a streamed one (read
    at the consumer's pace) a budget of time spent waiting on the server, `stream_deadline`.
    """

    def __init__(
        self,
        raw: Any,
        *,
        url: str,
        max_bytes: int,
        deadline: _Deadline | None,
        stream_deadline: float | None = None,
    ) -> None:
        self._raw = raw
        self._url = url
        self._max_bytes = max_bytes
        self._deadline = deadline
        self._stream_budget = stream_deadline
        self.bytes_read = 0

    def __getattr__(self, name: str) -> Any:  # everything else (cookies, close, release_conn) as is
        return getattr(self._raw, name)

    def _account(self, data: bytes) -> bytes:
        self.bytes_read += len(data)
        if self.bytes_read > self._max_bytes:
            self._finish()
            self._raw.close()
            raise SourceError(
                f"Response from {self._url} exceeds the {self._max_bytes}-byte limit.",
                code="response_too_large",
            )
        deadline = self._deadline
        if deadline is not None and (deadline.expired or time.monotonic() > deadline.at):
            self._raw.close()
            raise deadline.error(self._url)
        if self._stream_budget is not None and self._stream_budget < 0:
            self._raw.close()
            raise SourceError(
                f"{self._url} is sending its body too slowly: over the "
                "CRISP_STREAM_DEADLINE_SECONDS spent waiting for it; gave up.",
                code="response_too_slow",
            )
        if not data:
            self._finish()
        return data

    def _finish(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()

    def _read(self, method: Any, amt: int, decode_content: bool | None) -> bytes:
        started = time.monotonic()
        try:
            data = method(amt, decode_content=decode_content)
        except Exception as exc:
            if self._deadline is not None and self._deadline.expired:
                raise self._deadline.error(self._url) from exc
            self._finish()
            raise
        finally:
            if self._stream_budget is not None:
                self._stream_budget -= time.monotonic() - started
        return self._account(data)

    def read1(self, amt: int = READ_CHUNK, decode_content: bool | None = None) -> bytes:
        return self._read(self._raw.read1, amt, decode_content)

    def read(self, amt: int | None = None, decode_content: bool | None = None, **kwargs: Any) -> bytes:
        if amt is not None:
            return self._read(self._raw.read, amt, decode_content)
        return b"".join(self.stream(READ_CHUNK, decode_content=decode_content))

    def stream(self, amt: int | None = READ_CHUNK, decode_content: bool | None = None) -> Iterator[bytes]:
        while data := self.read1(amt or READ_CHUNK, decode_content=decode_content):
            yield data

    def close(self) -> None:
        self._finish()
        self._raw.close()

    def release_conn(self) -> None:
        self._finish()
        self._raw.release_conn()


class GuardedResponse(requests.Response):
    """A response whose `.json()` (what taxii2-client and OTXv2 call) parses within JsonLimits."""

    json_limits: JsonLimits | None = None

    def json(self, **kwargs: Any) -> Any:
        if self.json_limits is None:
            return super().json(**kwargs)
        return parse_limited(self.content, self.json_limits, where=f"Response from {self.url}")


def _tracking_pool(pool_cls: type[Any], adapter: GuardedAdapter) -> type[Any]:
    """A pool class whose connections check the address actually connected to and can be aborted."""

    class Connection(pool_cls.ConnectionCls):  # type: ignore[name-defined,misc]
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            peer = str(sock.getpeername()[0])
            # Re-checked after connecting: DNS may answer differently than it did to check_url.
            if not adapter.allow_private and address_is_internal(peer):
                sock.close()
                raise SourceError(
                    f"Connection to {self.host} reached {peer}, a loopback/private/reserved address.",
                    code="url_not_allowed",
                )
            adapter.track(sock)
            return sock

    return type(f"Guarded{pool_cls.__name__}", (pool_cls,), {"ConnectionCls": Connection})


class GuardedAdapter(HTTPAdapter):
    """Checks every request's address (redirect hops included), applies timeouts and size caps."""

    def __init__(
        self,
        *,
        allow_private: bool,
        max_response_bytes: int,
        timeout: float,
        deadline: float,
        stream_deadline: float | None = None,
        json_limits: JsonLimits | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.max_response_bytes = max_response_bytes
        self.timeout = timeout
        self.deadline = deadline
        self.stream_deadline = stream_deadline
        self.json_limits = json_limits
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            scheme: _tracking_pool(cls, self)
            for scheme, cls in self.poolmanager.pool_classes_by_scheme.items()
        }

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None, **kwargs: Any
    ) -> requests.Response:
        url = request.url or ""
        check_url(url, allow_private=self.allow_private)
        deadline = _Deadline(self, self.deadline)
        try:
            response = super().send(request, stream=stream, timeout=timeout or self.timeout, **kwargs)
        except Exception as exc:
            if deadline.expired:
                raise deadline.error(url) from exc
            deadline.cancel()
            raise
        if deadline.expired:  # http.client may return the headers it had when the socket was shut
            response.close()
            raise deadline.error(url)
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.max_response_bytes:
            deadline.cancel()
            response.close()
            raise SourceError(
                f"Response from {url} announces {length} bytes, over the {self.max_response_bytes}-byte limit.",
                code="response_too_large",
            )
        if stream:
            # A streamed body is read at the consumer's pace (between checkpoints): the deadline
            # covers the headers; the body gets a budget of time spent waiting on the server.
            deadline.cancel()
            response.raw = _CappedBody(
                response.raw,
                url=url,
                max_bytes=self.max_response_bytes,
                deadline=None,
                stream_deadline=self.stream_deadline,
            )
        else:
            response.raw = _CappedBody(
                response.raw, url=url, max_bytes=self.max_response_bytes, deadline=deadline
            )
        return response

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        response = super().build_response(req, resp)
        response.__class__ = GuardedResponse
        response.json_limits = self.json_limits  # type: ignore[attr-defined]
        return response

    def abort(self) -> None:
        """Unblock every connect/read in progress on this adapter; callable from another thread."""
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: nothing is blocked on it


class GuardedSession(requests.Session):
    """A requests.Session that only goes through GuardedAdapter and ignores proxy/netrc env settings."""

    def __init__(self, adapter: GuardedAdapter) -> None:
        super().__init__()
        # Environment proxies would let a request bypass the address check; netrc would leak creds.
        self.trust_env = False
        self.max_redirects = MAX_REDIRECTS
        self.adapter = adapter
        # Headers carrying credentials besides Authorization (e.g. an API-key header).
        self.credential_headers: set[str] = set()
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        # requests strips Authorization on a redirect to another host, but not custom key headers.
        super().rebuild_auth(prepared_request, response)
        if self.should_strip_auth(response.request.url or "", prepared_request.url or ""):
            for name in self.credential_headers:
                prepared_request.headers.pop(name, None)

    def abort(self) -> None:
        self.adapter.abort()


def guarded_session(config: FeedConfig) -> GuardedSession:
    """The session every source uses for `config`'s feed."""
    adapter = GuardedAdapter(
        allow_private=config.allow_private_urls,
        max_response_bytes=config.max_response_bytes,
        timeout=config.request_timeout,
        deadline=config.request_deadline,
        json_limits=config.json_limits(),
    )
    return GuardedSession(adapter)


def guarded_stream_session(config: FeedConfig) -> GuardedSession:
    """The session of a streamed bundle: the bundle's own size cap and a waiting-time budget."""
    adapter = GuardedAdapter(
        allow_private=config.allow_private_urls,
        max_response_bytes=config.max_bundle_bytes,
        timeout=config.request_timeout,
        deadline=config.request_deadline,
        stream_deadline=config.stream_deadline,
    )
    return GuardedSession(adapter)


class _ResponseRaw(io.RawIOBase):
    def __init__(self, response: requests.Response) -> None:
        self._response = response

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._response.raw.read1(len(buffer), decode_content=True)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._response.close()
        super().close()


def response_stream(response: requests.Response) -> io.BufferedReader:
    """A peekable binary file over a streamed response body (Content-Encoding already undone)."""
    return io.BufferedReader(_ResponseRaw(response), buffer_size=READ_CHUNK)
