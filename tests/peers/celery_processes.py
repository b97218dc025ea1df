"""Real Celery processes for tests: workers and beat, started against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def process_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "CRISP_ALLOW_PRIVATE_FEED_URLS": "1",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def _wait_for(
    log: Path, marker: bytes, process: subprocess.Popen[bytes], what: str, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while marker not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{what} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


def start_worker(
    *, env: dict[str, str], queue: str, name: str, log: Path, concurrency: int = 2, pool: str = "prefork"
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "celery", "-A", "crisp", "worker", "-P", pool, "-c", str(concurrency),
               "-Q", queue, "-n", name, "-l", "info", "--without-gossip", "--without-mingle",
               "--without-heartbeat"]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    _wait_for(log, b"ready.", process, f"celery worker {name}")
    return process


def start_beat(*, env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    """celery beat with the file scheduler: the test database is flushed between tests, its schedule not."""
    log = workdir / "beat.log"
    command = [sys.executable, "-m", "celery", "-A", "crisp", "beat", "-l", "info",
               "-S", "celery.beat:PersistentScheduler", "-s", str(workdir / "beat-schedule")]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    _wait_for(log, b"beat: Starting", process, "celery beat")
    return process


def stop(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
