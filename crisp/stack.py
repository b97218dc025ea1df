"""Launcher behind `make run`, `make test` and `make bench`.

    python -m crisp.stack run                  migrate, collectstatic, bootstrap, then the Procfile
    python -m crisp.stack test [pytest args]   python -m pytest ARGS, exit code passed through
    python -m crisp.stack bench [args]         python -m bench ARGS

Each one creates the var dir and, when REDIS_URL is unset, starts the private embedded Redis
(crisp/embedded_redis.py) and exports its URL as REDIS_URL to everything it starts; the server is
stopped when the command ends. The executables of this interpreter's environment (gunicorn,
celery, honcho) come first on PATH, so `.venv/bin/python -m crisp.stack …` needs no activated venv.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crisp.embedded_redis import embedded_redis
from crisp.settings import BASE_DIR, VAR_DIR

DEFAULT_PORT = "8000"
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


def run() -> int:
    port = os.environ.setdefault("PORT", DEFAULT_PORT)
    manage("migrate", "--noinput")
    manage("collectstatic", "--noinput", "--verbosity", "0")
    if (BASE_DIR / "threat_feeds" / "management" / "commands" / "bootstrap.py").exists():
        manage("bootstrap")  # first admin (prints how to log in) and the demo feed
    else:  # only while the project is being put together
        print("crisp: WARNING: no `bootstrap` management command yet; skipped", flush=True)
    print(f"crisp: starting web on http://127.0.0.1:{port}/ + worker + beat + demo TAXII", flush=True)
    # -p: web (first in the Procfile) gets exactly $PORT; -e /dev/null: a docker-compose `.env`
    # must not leak into the local stack (settings read the real environment only).
    return call(sys.executable, "-m", "honcho", "start", "-f", "Procfile", "-p", port, "-e", os.devnull)


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
    with redis_url():
        if command == "run":
            return run()
        module = "pytest" if command == "test" else "bench"
        return call(sys.executable, "-m", module, *args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
