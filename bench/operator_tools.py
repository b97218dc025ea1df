"""The operator's tools: how fast a run is finalised or handed over when Celery, not CRISP, acts.

- terminate: `revoke(task_id, terminate=True, signal=SIGTERM)` (what `celery control terminate`
  and Flower send) at a random moment of a paced ingest; reports the time from the pool process
  being gone to the run being terminal (seen by polling the database), and from the revoke.
- warm shutdown: SIGTERM to the worker running the run (two workers on one queue); reports the
  time until the run is handed back (`queued`), until the worker process has exited, and until
  the other worker runs it again; then checks the run completes with every object once.

Real workers (`celery worker -P prefork`), real Redis and DATABASE_URL (see bench/common.py).

    python -m bench.operator_tools [--trials 10]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import time
from typing import Any

from bench import common

OBJECTS, PAGE, DELAY = 4000, 100, 0.05


def _poll(predicate: Any, timeout: float = 60, interval: float = 0.002) -> float:
    """Seconds until predicate() is true (polled), from now."""
    started = time.perf_counter()
    while not predicate():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("condition not reached")
        time.sleep(interval)
    return time.perf_counter() - started


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _start(server: Any) -> Any:
    from threat_feeds.models import FeedRun
    from threat_feeds.services.runs import feed_run_start

    common.flush_store()
    run = feed_run_start(feed=common.make_feed(server, page_size=PAGE), user=None)
    _poll(lambda: FeedRun.objects.filter(pk=run.pk, status="running", pages__gte=2).exists())
    time.sleep(random.uniform(0.0, 0.4))
    return FeedRun.objects.get(pk=run.pk)


def terminate_trials(server: Any, trials: int) -> list[dict[str, float]]:
    from crisp.celery import app
    from threat_feeds.models import FeedRun

    rows = []
    with common.celery_worker(concurrency=1):
        for trial in range(trials):
            run = _start(server)
            sent = time.perf_counter()
            app.control.revoke(str(run.task_id), terminate=True, signal="SIGTERM")
            gone = _poll(lambda r=run: _gone(r.worker_pid))
            terminal = _poll(
                lambda r=run: FeedRun.objects.filter(pk=r.pk, finished_at__isnull=False).exists()
            )
            final = FeedRun.objects.get(pk=run.pk)
            rows.append({"gone_ms": gone * 1000, "after_gone_ms": terminal * 1000,
                         "from_revoke_ms": (time.perf_counter() - sent) * 1000})  # fmt: skip
            common.log(f"terminate {trial + 1}/{trials}: {final.status}, terminal {terminal * 1000:.0f} ms "
                       f"after the process was gone")  # fmt: skip
            assert final.status == "stopped" and final.cancel_source == "celery", final.status
    return rows


def shutdown_trials(server: Any, trials: int) -> list[dict[str, float]]:
    from threat_feeds.models import FeedRun

    rows = []
    for trial in range(trials):
        with common.celery_worker() as first, common.celery_worker(queue=first.queue) as second:
            run = _start(server)
            owner = next(w for w in (first, second) if run.worker_pid in w.child_pids())
            sent = time.perf_counter()
            owner.process.send_signal(signal.SIGTERM)
            back = _poll(
                lambda r=run: FeedRun.objects.filter(pk=r.pk).exclude(worker_pid=r.worker_pid).exists()
            )
            exited = _poll(lambda w=owner: w.process.poll() is not None)
            done = common.wait_run(run.pk, timeout=120)
            rows.append({"handed_back_ms": back * 1000, "worker_exit_ms": (back + exited) * 1000,
                         "completed": float(done.status == "completed" and done.created == OBJECTS)})  # fmt: skip
            common.log(f"shutdown {trial + 1}/{trials}: handed back in {back * 1000:.0f} ms, worker gone "
                       f"{(time.perf_counter() - sent):.1f} s after SIGTERM, run {done.status} "
                       f"({done.fetched:,} fetched)")  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args(argv)
    common.prepare_database(os.environ["DATABASE_URL"])
    common.setup_django()
    from threat_feeds.demo.taxii_server import start_in_thread

    server = start_in_thread(common.demo_config(OBJECTS, PAGE, delay=DELAY))
    try:
        terminate = terminate_trials(server, args.trials)
        shutdown = shutdown_trials(server, max(3, args.trials // 2))
    finally:
        server.stop()

    def stats(rows: list[dict[str, float]], key: str) -> list[Any]:
        values = [r[key] for r in rows]
        return [key, len(values), common.median(values), common.percentile(values, 99), max(values)]

    common.print_table("operator tools (ms)", ["figure", "n", "median", "p99", "max"], [
        stats(terminate, "after_gone_ms"), stats(terminate, "from_revoke_ms"),
        stats(shutdown, "handed_back_ms"), stats(shutdown, "worker_exit_ms"),
    ])  # fmt: skip
    completed = sum(r["completed"] for r in shutdown)
    print(f"handed-back runs completed with every object once: {completed:.0f}/{len(shutdown)}")
    payload = {"terminate": terminate, "shutdown": shutdown}
    common.save_results("operator_tools", payload)
    return payload


if __name__ == "__main__":
    main()
