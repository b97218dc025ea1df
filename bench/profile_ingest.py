"""Where the worker's ingest time goes: cProfile of `feed_run_execute`, per thread, plus time per
SQL statement.

Runs the worker path in this process (the same code as the Celery task body, main thread) on N
objects from the demo TAXII server in its own process, against DATABASE_URL, and prints:

- per thread of the run (the task's main thread, and every thread it starts, e.g. a storage
  thread, the cancel listener, the monitor): the functions with the largest cumulative and own
  time, as a share of the run's wall time (threads overlap, so shares add up to more than 100 %);
- every SQL statement shape, on every connection, with its count and total time (Django
  execute_wrapper: the time the caller waits for the database, server work included; COPY and
  COMMIT are not statements here, they appear in the profile as `copy`/`write_row` and `commit`);
- the per-batch time of the slowest statements over the run (first vs last tenth of the calls),
  which shows whether a batch gets dearer as the store grows.

    python -m bench.profile_ingest [--quick] [--objects 100000] [--page-size 5000]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench import common

HINTS = (
    "threat_feeds",
    "taxii2client",
    "requests",
    "psycopg",
    "django/db",
    "orjson",
    "json",
    "queue",
    "threading",
)


class SqlTimer:
    """execute_wrapper collecting (count, seconds, per-call durations) per statement shape."""

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        self.calls: dict[str, list[float]] = defaultdict(list)
        self.lock = threading.Lock()

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent = time.perf_counter() - started
            key = re.sub(r"\s+", " ", sql).strip()
            key = re.sub(r"\(\s*%s(?:\s*,\s*%s)+\s*\)", "(%s, ...)", key)[:110]
            with self.lock:
                entry = self.stats[key]
                entry[0] += 1
                entry[1] += spent
                self.calls[key].append(spent)


@contextmanager
def everywhere(timer: SqlTimer) -> Iterator[dict[str, cProfile.Profile]]:
    """Profile every thread started meanwhile, and time SQL on every database connection."""
    from django.db import connection
    from django.db.backends.signals import connection_created

    profiles: dict[str, cProfile.Profile] = {}
    original = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def bootstrap(thread: threading.Thread) -> None:
        profile = profiles.setdefault(re.sub(r"-[0-9a-f]+$|-\d+$", "", thread.name), cProfile.Profile())
        profile.enable()  # for this thread only
        try:
            original(thread)
        finally:
            profile.disable()

    def on_connect(sender: Any, connection: Any, **kwargs: Any) -> None:
        connection.execute_wrappers.append(timer)

    threading.Thread._bootstrap_inner = bootstrap  # type: ignore[attr-defined]
    connection_created.connect(on_connect)
    try:
        with connection.execute_wrapper(timer):
            yield profiles
    finally:
        threading.Thread._bootstrap_inner = original  # type: ignore[attr-defined]
        connection_created.disconnect(on_connect)


def _label(func: tuple[str, int, str]) -> str:
    path, line, name = func
    if path == "~":
        return name
    return f"{path.split('site-packages/')[-1].split('/work/main/')[-1]}:{line}({name})"


def _rows(profile: cProfile.Profile) -> list[dict[str, Any]]:
    raw: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return [
        {"function": _label(func), "calls": nc, "tottime": tt, "cumtime": ct}
        for func, (_cc, nc, tt, ct, _callers) in raw.items()
    ]


def profile_run(objects: int, page_size: int) -> dict[str, Any]:
    from threat_feeds.demo.taxii_server import start_in_process
    from threat_feeds.models import FeedRun
    from threat_feeds.services.runs import feed_run_execute

    server = start_in_process(common.demo_config(objects, max(page_size, 1000)))
    try:
        common.flush_store()
        run = FeedRun.objects.create(feed=common.make_feed(server, page_size=page_size), cursor_before={})
        timer = SqlTimer()
        main = cProfile.Profile()
        with everywhere(timer) as profiles:
            started = time.perf_counter()
            status = main.runcall(feed_run_execute, run_id=run.pk, hostname="profile")
            total = time.perf_counter() - started
        run.refresh_from_db()
    finally:
        server.stop()
    threads = {"main (task)": _rows(main), **{name: _rows(p) for name, p in profiles.items()}}
    sql = []
    for key, (count, seconds) in sorted(timer.stats.items(), key=lambda kv: -kv[1][1]):
        calls = timer.calls[key]
        tenth = max(1, len(calls) // 10)
        sql.append({"sql": key, "count": int(count), "seconds": seconds,
                    "first_tenth_ms": 1000 * sum(calls[:tenth]) / tenth,
                    "last_tenth_ms": 1000 * sum(calls[-tenth:]) / tenth})  # fmt: skip
    return {"objects": objects, "page_size": page_size, "status": status, "fetched": run.fetched,
            "seconds": total, "objects_per_s": run.fetched / total, "threads": threads, "sql": sql}  # fmt: skip


def report(result: dict[str, Any], top: int = 25) -> None:
    total = result["seconds"]
    print(f"\nfeed_run_execute: {result['fetched']:,} objects in {total:.2f} s = "
          f"{result['objects_per_s']:,.0f} objects/s (status {result['status']}, page size {result['page_size']})")  # fmt: skip
    for name, funcs in result["threads"].items():
        busy = max((f["cumtime"] for f in funcs), default=0.0)
        if busy < 0.02 * total:
            print(f"\n(thread {name}: {busy:.2f} s in total, not shown)")
            continue
        interesting = [f for f in funcs if any(h in f["function"] for h in HINTS) or "{" in f["function"]]
        common.print_table(
            f"thread {name}: cumulative time (share of the run's {total:.1f} s wall time)",
            ["function", "calls", "cum s", "share"],
            [[f["function"][:100], f["calls"], round(f["cumtime"], 2), f"{100 * f['cumtime'] / total:.1f}%"]
             for f in sorted(interesting, key=lambda r: -r["cumtime"])[:top]],
        )  # fmt: skip
        common.print_table(
            f"thread {name}: own time (tottime)",
            ["function", "calls", "own s", "share"],
            [[f["function"][:100], f["calls"], round(f["tottime"], 2), f"{100 * f['tottime'] / total:.1f}%"]
             for f in sorted(funcs, key=lambda r: -r["tottime"])[:15]],
        )  # fmt: skip
    sql_total = sum(r["seconds"] for r in result["sql"])
    common.print_table(
        f"SQL statements, all threads (total {sql_total:.2f} s = {100 * sql_total / total:.0f}% of the run)",
        ["statement", "count", "s", "share", "first 10% ms/call", "last 10% ms/call"],
        [[r["sql"], r["count"], round(r["seconds"], 2), f"{100 * r['seconds'] / total:.1f}%",
          round(r["first_tenth_ms"], 1), round(r["last_tenth_ms"], 1)] for r in result["sql"][:16]],
    )  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, default=100_000)
    p.add_argument("--page-size", type=int, default=5000)
    p.add_argument("--quick", action="store_true", help="20,000 objects")
    ns = p.parse_args(argv)
    common.setup_django()
    common.prepare_database(common.os.environ["DATABASE_URL"])
    objects = 20_000 if ns.quick else ns.objects
    common.log(f"profiling feed_run_execute on {objects:,} objects, page size {ns.page_size}")
    result = profile_run(objects, ns.page_size)
    report(result)
    for name, funcs in result["threads"].items():
        result["threads"][name] = sorted(funcs, key=lambda r: -r["cumtime"])[:150]
    common.save_results("profile_ingest", result)
    return result


if __name__ == "__main__":
    main()
