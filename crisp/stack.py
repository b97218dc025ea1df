"""Launcher behind `make run`, `make test` and `make bench`.

    python -m crisp.stack run                  migrate, collectstatic, bootstrap, then the Procfile
    python -m crisp.stack test [pytest args]   python -m pytest ARGS, exit code passed through
    python -m crisp.stack bench [args]         python -m bench ARGS

Each one creates the var dir and, when REDIS_URL is unset, starts the private embedded Redis
(crisp/embedded_redis.py) and exports its URL as REDIS_URL to everything it starts; the server is
stopped when the command ends. The executables of this interpreter's environment (gunicorn,
celery, honcho) come first on PATH, so `.venv/bin/python -m crisp.stack …` needs no activated venv.

`run` checks its ports before starting anything: the web's PORT must be free (otherwise it stops
with one sentence saying so), and the demo TAXII server gets CRISP_DEMO_TAXII_PORT, by default
PORT+1 or, when that one is taken, a free port; the choice is exported to every process. The
Procfile runs under honcho's manager in this process: when one process ends on its own, honcho
stops the others and the last line printed names the process that took the stack down.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from honcho.environ import expand_processes, parse_procfile
from honcho.manager import Manager
from honcho.printer import Message, Printer

from crisp import settings
from crisp.embedded_redis import embedded_redis
from crisp.settings import BASE_DIR, VAR_DIR

LOOPBACK = "127.0.0.1"
USAGE = "usage: python -m crisp.stack {run | test [pytest args] | bench [args]}"


@contextmanager
def redis_url() -> Iterator[str]:
    """REDIS_URL as given, or the embedded server's URL, exported for the children."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with embedded_redis(VAR_DIR) as url:
        os.environ["REDIS_URL"] = url
        print(f"crisp: embedded Redis at {url}", flush=True)
        yield url


def call(*argv: str) -> int:
    """Run a child to completion. A Ctrl-C reaches it directly (same process group): we keep
    waiting for it to finish its own shutdown; a SIGTERM sent to us is passed on to it."""
    child = subprocess.Popen(argv)

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def manage(*args: str) -> None:
    code = call(sys.executable, "manage.py", *args)
    if code:
        raise SystemExit(f"crisp: manage.py {' '.join(args)} failed with exit code {code}")


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could listen on host:port now (SO_REUSEADDR like gunicorn's, so a port
    left in TIME_WAIT by a stack that just stopped counts as free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except (OSError, OverflowError):
            return False
    return True


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def choose_ports() -> tuple[int, int]:
    """(web port, demo TAXII port), both free now; exported as PORT and CRISP_DEMO_TAXII_PORT.
    A port that was asked for and is taken stops `make run` with one sentence saying what to set."""
    port = settings.PORT
    if not port_is_free(port):
        raise SystemExit(f"crisp: port {port} is in use; set PORT=<a free port> (e.g. PORT={free_port()}).")
    demo = settings.CRISP_DEMO_TAXII_PORT_REQUESTED
    if demo is not None:
        if demo == port or not port_is_free(demo):
            raise SystemExit(
                f"crisp: port {demo} (CRISP_DEMO_TAXII_PORT) is in use; set CRISP_DEMO_TAXII_PORT="
                f"<a free port> (e.g. {free_port()}) or unset it to let CRISP choose."
            )
    else:
        demo = port + 1
        if not port_is_free(demo):
            demo = free_port()
            print(f"crisp: port {port + 1} is in use; the demo TAXII server uses port {demo}", flush=True)
    os.environ["PORT"] = str(port)
    os.environ["CRISP_DEMO_TAXII_PORT"] = str(demo)
    return port, demo


class ExitWatchingPrinter(Printer):
    """Honcho's printer, noting the process whose end took the stack down: the first one reported
    stopped before any stop signal was received (from honcho 2.0's "system" lines)."""

    STOPPED = re.compile(r"^(?P<name>\S+) stopped \(rc=(?P<rc>-?\d+)\)")
    SIGNALLED = re.compile(r"^SIG\w+ received")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.signalled = False
        self.culprit: tuple[str, int] | None = None

    def write(self, message: Message) -> None:
        super().write(message)
        if message.name != "system" or self.culprit or self.signalled:
            return
        data = message.data.decode("utf-8", "replace") if isinstance(message.data, bytes) else message.data
        if self.SIGNALLED.match(data):
            self.signalled = True
        elif stopped := self.STOPPED.match(data):
            self.culprit = (stopped["name"], int(stopped["rc"]))


def start_procfile(port: int) -> int:
    """`honcho start -f Procfile -p PORT` run by honcho's manager in this process, so that we can
    tell afterwards why it stopped: Ctrl-C / SIGTERM, or one process exiting on its own."""
    procfile = parse_procfile((BASE_DIR / "Procfile").read_text())
    printer = ExitWatchingPrinter(sys.stdout)
    manager = Manager(printer)
    # port: web (first in the Procfile) gets exactly PORT (each later type +100, as in honcho).
    # Only the real environment: a docker-compose `.env` must not leak into the local stack.
    for process in expand_processes(procfile.processes, port=port):
        manager.add_process(process.name, process.cmd, quiet=process.quiet, env={**os.environ, **process.env})

    def hang_up(_signum: int, _frame: object) -> None:  # a closed terminal stops the stack too
        printer.signalled = True
        manager.terminate()

    previous = signal.signal(signal.SIGHUP, hang_up)
    try:
        manager.loop()  # handles SIGINT / SIGTERM itself: stops every process, then returns
    finally:
        signal.signal(signal.SIGHUP, previous)
    if printer.culprit and not printer.signalled:
        name, rc = printer.culprit
        how = f"was killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with code {rc}"
        print(
            f"crisp: the stack stopped because process '{name}' {how} and honcho then stopped the "
            f"others; see its output above (lines prefixed '{name}').",
            file=sys.stderr,
            flush=True,
        )
        return 1
    print("crisp: stack stopped.", flush=True)
    return manager.returncode or 0


def run(port: int, demo_port: int) -> int:
    manage("migrate", "--noinput")
    manage("collectstatic", "--noinput", "--verbosity", "0")
    manage("bootstrap")  # first admin (prints how to log in); the demo feed, on demo_port
    print(
        f"crisp: starting web on http://{LOOPBACK}:{port}/ + worker + control worker + beat"
        f" + demo TAXII on http://{LOOPBACK}:{demo_port}/",
        flush=True,
    )
    return start_procfile(port)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test", "bench"}:
        print(USAGE, file=sys.stderr)
        return 2
    command, args = argv[0], argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    os.chdir(BASE_DIR)
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    bin_dir = str(Path(sys.executable).parent)  # not resolved: keep the venv's bin, not the base's
    os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
    if command == "run":
        ports = choose_ports()  # before anything starts
    with redis_url():
        if command == "run":
            return run(*ports)
        module = "pytest" if command == "test" else "bench"
        return call(sys.executable, "-m", module, *args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
