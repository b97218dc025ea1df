"""A local AlienVault OTX API for tests: `/api/v1/pulses/subscribed` serving recorded pulses, unaltered.

The recorded pulses are split into pages (`limit`, `page`, `next`, `count`), filtered by
`modified_since` (strictly after) and listed oldest-modified first, so a cursor at the last stored
pulse resumes exactly there. Knobs: a required X-OTX-API-KEY (403 otherwise), a per-page delay,
a 429 with Retry-After on every Nth request, and malformed-JSON answers from a given page on.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.peers.threaded_http import serve

SUBSCRIBED = "/api/v1/pulses/subscribed"


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass
class OtxServerConfig:
    pulses: list[dict[str, Any]]
    api_key: str = "test-otx-key"
    page_max: int = 50  # the server clamps `limit` to this
    delay: float = 0.0  # seconds before answering each page
    retry_after_every: int = 0  # every Nth request answers 429 first
    retry_after_seconds: int = 1
    malformed_from_page: int = 0  # pages >= this answer a truncated JSON body (0 = never)


@dataclass
class OtxServer:
    url: str
    config: OtxServerConfig
    requests: list[dict[str, str]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)


def _handler(server: OtxServer) -> type[BaseHTTPRequestHandler]:
    config = server.config
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            with lock:
                server.requests.append({"path": parts.path, **query})
                number = len(server.requests)
            if self.headers.get("X-OTX-API-KEY") != config.api_key:
                self._send(403, b'{"detail": "Authentication required"}')
                return
            if parts.path.rstrip("/") == "/api/v1/users/me":
                self._send(200, json.dumps({"username": "crisp-test"}).encode())
                return
            if parts.path.rstrip("/") != SUBSCRIBED:
                self._send(404, b'{"detail": "Not found."}')
                return
            if config.retry_after_every and number % config.retry_after_every == 0:
                self._send(429, b'{"detail": "Request was throttled."}',
                           {"Retry-After": str(config.retry_after_seconds)})  # fmt: skip
                return
            pulses = sorted(config.pulses, key=lambda p: _moment(p["modified"]))
            if query.get("modified_since"):
                since = _moment(query["modified_since"])
                pulses = [p for p in pulses if _moment(p["modified"]) > since]
            limit = max(1, min(int(query.get("limit", 50)), config.page_max))
            page = max(1, int(query.get("page", 1)))
            chunk = pulses[(page - 1) * limit : page * limit]
            next_url = None
            if page * limit < len(pulses):
                args = {**query, "limit": limit, "page": page + 1}
                next_url = f"{server.url}{SUBSCRIBED}?{urlencode(args)}"
            if config.delay:
                server.stopping.wait(config.delay)
            body = json.dumps({"count": len(pulses), "next": next_url,
                               "previous": None, "results": chunk}).encode()  # fmt: skip
            if config.malformed_from_page and page >= config.malformed_from_page:
                body = body[: len(body) // 2]
            self._send(200, body)

    return Handler


@contextmanager
def otx_server(**options: Any) -> Iterator[OtxServer]:
    """Serve the given pulses on a free port of 127.0.0.1 until the block ends."""
    servers: list[OtxServer] = []

    def make(url: str) -> tuple[type[BaseHTTPRequestHandler], threading.Event]:
        servers.append(OtxServer(url=url, config=OtxServerConfig(**options)))
        return _handler(servers[0]), servers[0].stopping

    with serve(make):
        yield servers[0]
