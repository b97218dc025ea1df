"""CRISP's ASGI application served by uvicorn in a thread of the test process (as `make run` serves
it with uvicorn workers), on the test database: the live stream needs an ASGI server."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application
from django.test.utils import modify_settings


class AsgiLiveServer:
    """Quacks like pytest-django's LiveServer (`url`, `stop`, the settings it modifies)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        with socket.socket() as probe:
            probe.bind((host, 0))
            self.port = probe.getsockname()[1]
        self.host = host
        self.url = f"http://{host}:{self.port}"
        self._live_server_modified_settings = modify_settings(ALLOWED_HOSTS={"append": host})
        # A request runs in a thread of its own: no connection may outlive it (they would pile up).
        from django.db import connections

        self._conn_max_age = connections.settings["default"].get("CONN_MAX_AGE", 0)
        connections.settings["default"]["CONN_MAX_AGE"] = 0
        from threat_feeds.api.fast_status import FastTaskStatus

        app = FastTaskStatus(ASGIStaticFilesHandler(get_asgi_application()))  # as crisp.asgi composes it
        config = uvicorn.Config(app, host=host, port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="asgi-live-server", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the ASGI test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.server.force_exit = True  # open streams must not hold the shutdown
        self.thread.join(10)
        from django.db import connections

        connections.settings["default"]["CONN_MAX_AGE"] = self._conn_max_age

    def __str__(self) -> str:
        return self.url


def start() -> Any:
    return AsgiLiveServer()
