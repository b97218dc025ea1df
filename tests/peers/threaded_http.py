"""Run a stdlib HTTP handler on a free 127.0.0.1 port in a thread, for the recorded-response peers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def serve(
    make_handler: Callable[[str], tuple[type[BaseHTTPRequestHandler], threading.Event]],
) -> Iterator[str]:
    """`make_handler(url)` returns the handler class and the event that releases stalled handlers."""
    http = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{http.server_address[1]}"
    http.RequestHandlerClass, stopping = make_handler(url)
    http.daemon_threads = True
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        stopping.set()
        http.shutdown()
        http.server_close()
        thread.join(timeout=5)
