"""A tiny stdlib HTTP server on 127.0.0.1 whose answers a test scripts: for hostile-server behaviour
(429, 5xx, garbage, slow or endless bodies) that a real TAXII server will not produce on demand."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TAXII_JSON = "application/taxii+json;version=2.1"


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # Sent with chunked transfer encoding instead of `body`, `chunk_delay` seconds apart.
    chunks: Iterable[bytes] | None = None
    chunk_delay: float = 0.0
    hang: float = 0.0  # seconds to stall before answering at all
    # Send the status line and headers one byte at a time, this many seconds apart (slow-loris).
    header_delay: float = 0.0


@dataclass(frozen=True)
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


Handler = Callable[[Seen], Reply]


@dataclass
class ScriptedServer:
    url: str  # http://127.0.0.1:PORT/
    seen: list[Seen]
    stopping: threading.Event

    def url_for(self, path: str) -> str:
        return self.url + path.lstrip("/")


def _request_handler(
    script: Handler, seen: list[Seen], stopping: threading.Event
) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            request = Seen(
                path=parts.path,
                query={key: values[-1] for key, values in parse_qs(parts.query).items()},
                headers={key.lower(): value for key, value in self.headers.items()},
            )
            seen.append(request)
            reply = script(request)
            if reply.hang and stopping.wait(reply.hang):
                return
            if reply.header_delay:
                self._dribble_headers(reply)
                return
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Connection", "close")
            try:
                if reply.chunks is None:
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in reply.chunks:
                    if reply.chunk_delay and stopping.wait(reply.chunk_delay):
                        return
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, which is what several tests want

        def _dribble_headers(self, reply: Reply) -> None:
            head = f"HTTP/1.1 {reply.status} OK\r\n" + "".join(
                f"{name}: {value}\r\n" for name, value in reply.headers.items()
            )
            head += (
                f"Content-Length: {len(reply.body)}\r\nConnection: close\r\n" + "X-Padding: " + "." * 10_000
            )
            try:
                for byte in head.encode():
                    if stopping.wait(reply.header_delay):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
            except OSError:
                pass  # the client gave up, which is what the test wants

    return RequestHandler


@contextlib.contextmanager
def scripted_server(script: Handler) -> Iterator[ScriptedServer]:
    """Serve `script` on a free 127.0.0.1 port for the duration of the block."""
    seen: list[Seen] = []
    stopping = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _request_handler(script, seen, stopping))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield ScriptedServer(
            url=f"http://127.0.0.1:{server.server_address[1]}/", seen=seen, stopping=stopping
        )
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
