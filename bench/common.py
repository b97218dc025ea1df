"""Shared plumbing of the benchmarks: environment, bench database, a real Celery worker, demo
TAXII servers, feeds and runs, statistics and result files.

Importing this module configures the environment (before Django is set up):

- ``DATABASE_URL`` defaults to ``postgres://postgres@127.0.0.1:5432/crisp_bench``; the store is
  flushed between repetitions, so a database whose name does not contain ``bench`` is refused.
- ``REDIS_URL`` defaults to ``redis://127.0.0.1:6379/12``, ``CRISP_VAR_DIR`` to ``/tmp/crisp-bench-var``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PG_DEFAULT = "postgres://postgres@127.0.0.1:5432/crisp_bench"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crisp.settings")
os.environ.setdefault("CRISP_VAR_DIR", "/tmp/crisp-bench-var")
os.environ.setdefault("DATABASE_URL", PG_DEFAULT)
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")
os.environ["CRISP_ALLOW_PRIVATE_FEED_URLS"] = "1"
# gunicorn/celery of this interpreter's environment first on PATH, as crisp.stack does
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
VAR = Path(os.environ["CRISP_VAR_DIR"])
VAR.mkdir(parents=True, exist_ok=True)
TAXII_CACHE = VAR / "taxii-cache"  # rendered demo collections, reused between runs
SQLITE_URL = f"sqlite:///{VAR / 'bench.sqlite3'}"


def _check_bench_database(url: str) -> None:
    name = url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
    if "bench" not in name and os.environ.get("BENCH_ALLOW_ANY_DATABASE") != "1":
        sys.exit(f"bench: refusing to flush database {name!r} (its name must contain 'bench')")


_check_bench_database(os.environ["DATABASE_URL"])


def setup_django() -> None:
    import django

    django.setup()


def prepare_database(url: str) -> None:
    """Recreate the bench database from scratch and `manage.py migrate` it, so the schema is always
    the one the current migrations describe (even if a migration was edited in place)."""
    _check_bench_database(url)
    from django.apps import apps

    if apps.ready:
        from django.db import connections

        connections.close_all()
    if url.startswith("postgres"):
        import psycopg

        base, name = url.rsplit("/", 1)
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    elif url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)


def flush_store() -> None:
    """Empty the store, runs and feeds (not users/tokens) between repetitions."""
    from django.db import DatabaseError, connection

    from threat_feeds.models import (
        FeedRun,
        Indicator,
        IndicatorProvenance,
        ObjectProvenance,
        StixObject,
        StixObjectVersion,
        ThreatFeed,
    )

    models = [
        IndicatorProvenance,
        ObjectProvenance,
        StixObjectVersion,
        Indicator,
        StixObject,
        FeedRun,
        ThreatFeed,
    ]
    tables = [m._meta.db_table for m in models]
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            for attempt in range(10):  # a worker still writing may deadlock with TRUNCATE: wait and retry
                try:
                    cur.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
                    break
                except DatabaseError:
                    if attempt == 9:
                        raise
                    time.sleep(0.5)
        else:
            for table in tables:
                cur.execute(f"DELETE FROM {table}")


def quiesce_seconds(timeout: float = 10.0) -> float:
    """Seconds until no other session of this database runs a statement or holds a transaction
    open (PostgreSQL; 0 elsewhere). After a run is terminal this should be ~0: anything else is
    a worker still writing after the run was reported finished."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    started = time.monotonic()
    with connection.cursor() as cur:
        while time.monotonic() - started < timeout:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')"
            )
            if cur.fetchone()[0] == 0:
                break
            time.sleep(0.005)
    return time.monotonic() - started


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    queue: str
    log: Path

    def child_pids(self) -> list[int]:
        import psutil

        return [c.pid for c in psutil.Process(self.process.pid).children()]


@contextmanager
def celery_worker(
    database_url: str | None = None, *, concurrency: int = 1, queue: str | None = None
) -> Iterator[Worker]:
    """A real `celery worker -P prefork -c 1` on a queue private to this bench process (or `queue`)."""
    from crisp.celery import app
    from tests.peers.celery_processes import start_worker, stop

    queue = queue or f"crisp-bench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    app.conf.task_default_queue = queue  # feed_run_start in this process routes runs to it
    name = f"{queue}-{uuid.uuid4().hex[:4]}"
    log = VAR / f"{name}.log"
    env = {**os.environ, "DATABASE_URL": database_url or os.environ["DATABASE_URL"], "PYTHONUNBUFFERED": "1"}
    process = start_worker(env=env, queue=queue, name=f"{name}@localhost", log=log, concurrency=concurrency)
    try:
        yield Worker(process, queue, log)
    finally:
        stop(process)


def demo_config(objects: int, page_max: int, **options: Any) -> Any:
    """A fast server config: no pacing, no auth, the collection rendered once to a reusable file."""
    from threat_feeds.demo.config import ServerConfig

    return ServerConfig(objects=objects, page_max=page_max, warm=True, cache_dir=str(TAXII_CACHE), **options)


def make_feed(server: Any, *, page_size: int, name: str | None = None) -> Any:
    from threat_feeds.models import ThreatFeed

    return ThreatFeed.objects.create(
        name=name or f"bench-{uuid.uuid4().hex[:10]}",
        source_type="taxii21",
        url=server.api_root_url,
        collection_id=server.collection_id,
        page_size=page_size,
    )


def wait_run(run_id: int, *, timeout: float = 900, poll: float = 0.01, statuses: Sequence[str] = ()) -> Any:
    """Poll until the run reaches one of `statuses` (default: terminal)."""
    from threat_feeds.choices import RunStatus
    from threat_feeds.models import FeedRun

    wanted = tuple(statuses) or tuple(RunStatus.terminal())
    deadline = time.monotonic() + timeout
    while True:
        run = FeedRun.objects.get(pk=run_id)
        if run.status in wanted:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {run.status}/{run.stage} after {timeout} s")
        time.sleep(poll)


def stack_cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by this process (all its threads), the PostgreSQL cluster and Redis.

    PostgreSQL's backends come and go (a run's store lanes close theirs): the postmaster's reaped
    children count what ended, the live backends what is still running."""
    import psutil

    totals = {"bench": sum(psutil.Process().cpu_times()[:2]), "postgres": 0.0, "redis": 0.0}
    for proc in psutil.process_iter(["name"]):
        try:
            name = proc.info["name"] or ""
            times = proc.cpu_times()
            if name.startswith("postgres"):
                parent = proc.parent()
                postmaster = parent is None or not (parent.name() or "").startswith("postgres")
                reaped = times.children_user + times.children_system if postmaster else 0.0
                totals["postgres"] += times.user + times.system + reaped
            elif name.startswith("redis-server"):
                totals["redis"] += times.user + times.system
        except psutil.Error:
            continue
    return totals


# --- statistics and output -----------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN values are left out, infinities kept."""
    ordered = sorted(v for v in values if not math.isnan(v))
    if not ordered:
        return math.nan
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def product_tree() -> dict[str, Any]:
    """Which product code was measured: HEAD and the files modified on top of it (read-only git)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.rstrip("\n")

    modified = [
        line[3:] for line in git("status", "--porcelain").splitlines() if not line[3:].startswith("bench/")
    ]
    return {"head": git("rev-parse", "--short", "HEAD").strip(), "modified": modified}


def machine() -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "load": os.getloadavg()}


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[f"{c:,.0f}" if isinstance(c, float) and abs(c) >= 100 else
              f"{c:.3g}" if isinstance(c, float) else f"{c:,}" if isinstance(c, int) else str(c)
              for c in row] for row in rows]  # fmt: skip
    widths = [max([len(str(h))] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    print(f"\n## {title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    sys.stdout.flush()


def save_results(name: str, payload: dict[str, Any]) -> Path:
    """Append one JSON line to bench/results/<name>.jsonl."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "bench": name,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "product": product_tree(),
        **payload,
    }
    path = RESULTS / f"{name}.jsonl"
    with path.open("a") as out:
        out.write(json.dumps(record, default=str) + "\n")
    print(f"\nresults appended to {path.relative_to(REPO)}")
    return path


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
