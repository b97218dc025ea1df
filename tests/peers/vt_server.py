"""A local VirusTotal API v3 for tests, answering with the recorded responses of the datasets, unaltered.

`/api/v3/{ip_addresses,domains,urls,files}/{id}`: opencti/ files are served as recorded (they carry
the `{"data": ...}` envelope); msticpy/ objects are wrapped, unaltered, in `{"data": obj}`. Files are
found by sha256, sha1 or md5, URLs by their sha256 id or vt-py's base64 url id, as VirusTotal does.
Unknown ids: 404 NotFoundError. Knobs: the API key (401 WrongCredentialsError otherwise), a 429
QuotaExceededError mode, a per-request delay. Every request's time is recorded for quota tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.peers.threaded_http import serve

COLLECTION_OF = {"ip_address": "ip_addresses", "domain": "domains", "url": "urls", "file": "files"}


def recorded_objects(folder: Path) -> dict[tuple[str, str], bytes]:
    """(collection, id) -> response body, for every recorded v3 object under `folder`."""
    bodies: dict[tuple[str, str], bytes] = {}
    for path in sorted(folder.glob("*/*.json")):
        raw = path.read_bytes()
        document = json.loads(raw)
        if not isinstance(document, dict) or "type" not in document.get("data", document):
            continue  # vt3_search.json: a dict of queries, not an object
        if "data" in document:
            obj, body = document["data"], raw
        else:
            obj, body = document, b'{"data": ' + raw + b"}"
        collection = COLLECTION_OF[obj["type"]]
        ids = {obj["id"]}
        attributes = obj.get("attributes", {})
        if collection == "files":
            ids |= {attributes.get("md5"), attributes.get("sha1"), attributes.get("sha256")} - {None}
        for object_id in ids:
            bodies[(collection, str(object_id).lower() if collection == "files" else str(object_id))] = body
    return bodies


def _url_sha256(object_id: str) -> str | None:
    try:
        url = base64.urlsafe_b64decode(object_id + "=" * (-len(object_id) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return hashlib.sha256(url.encode()).hexdigest() if url.startswith(("http://", "https://")) else None


@dataclass
class VtServer:
    url: str
    bodies: dict[tuple[str, str], bytes]
    api_key: str
    quota_exceeded: bool = False
    delay: float = 0.0
    times: list[float] = field(default_factory=list)  # time.monotonic() of every authorised request
    paths: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)


def _handler(server: VtServer) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, code: str, message: str) -> None:
            self._send(status, json.dumps({"error": {"code": code, "message": message}}).encode())

        def do_GET(self) -> None:
            if self.headers.get("X-Apikey") != server.api_key:
                self._error(401, "WrongCredentialsError", "Wrong API key")
                return
            with lock:
                server.times.append(time.monotonic())
                server.paths.append(self.path)
            if server.delay:
                server.stopping.wait(server.delay)
            if server.quota_exceeded:
                self._error(429, "QuotaExceededError", "Quota exceeded")
                return
            parts = self.path.split("?", 1)[0].strip("/").split("/")
            if len(parts) != 4 or parts[:2] != ["api", "v3"]:
                self._error(404, "NotFoundError", f"Resource not found: {self.path}")
                return
            collection, object_id = parts[2], parts[3]
            if collection == "files":
                object_id = object_id.lower()
            body = server.bodies.get((collection, object_id))
            if body is None and collection == "urls":
                body = server.bodies.get((collection, _url_sha256(object_id) or ""))
            if body is None:
                self._error(404, "NotFoundError", f'{collection[:-1]} "{object_id}" not found')
                return
            self._send(200, body)

    return Handler


@contextmanager
def vt_server(datasets: Path, *, api_key: str = "test-vt-key", **options: Any) -> Iterator[VtServer]:
    servers: list[VtServer] = []

    def make(url: str) -> tuple[type[BaseHTTPRequestHandler], threading.Event]:
        servers.append(
            VtServer(url=url, api_key=api_key, bodies=recorded_objects(datasets / "virustotal"), **options)
        )
        return _handler(servers[0]), servers[0].stopping

    with serve(make):
        yield servers[0]
