"""The live stream under load, and what publishing progress costs the ingest (SPEC §9).

1. `viewers` concurrent clients (default 100) hold `GET /api/threat-feeds/tasks/stream/` open on
   the web server started from the Procfile's `web:` line (gunicorn + uvicorn workers) while a real
   worker ingests from the fast demo TAXII server (1,000,000 objects). Each client notes when each
   event of the run arrives; the update gap is the time between two consecutive events of the run
   at one client (target: p99 <= 1 s). After `seconds`, a stop_now is sent through the API and the
   cancel -> terminal latency is taken from the run (DB: cancel_requested_at -> finished_at, target
   p99 <= 100 ms) and as seen by the viewers (POST sent -> terminal event received).
2. Cost of publishing: `feed_run_execute` in this process with publishing on vs replaced by no-ops,
   alternating which goes first in each pair (as bench.cancel measures checkpoints; target <= 2 %):
   throughput, and CPU seconds per run of this process, the PostgreSQL cluster and Redis.

    python -m bench.stream [--quick] [--viewers 100] [--seconds 20] [--reps 3] [--pairs 4] [--skip-viewers]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
from collections.abc import Iterator
from typing import Any

from bench import common
from bench.task_status import gunicorn


async def _viewer(session: Any, url: str, headers: dict[str, str], task_id: str, arrivals: list[tuple[float, str]],
                  opened: asyncio.Event, stop: asyncio.Event) -> None:  # fmt: skip
    loop = asyncio.get_running_loop()
    async with session.get(url, headers=headers) as response:
        assert response.status == 200, response.status
        opened.set()
        buffer = b""
        async for chunk in response.content.iter_any():
            buffer += chunk
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                for line in event.split(b"\n"):
                    if line.startswith(b"data: "):
                        data = json.loads(line[6:])
                        if data["task_id"] == task_id:
                            arrivals.append((loop.time(), data["status"]))
            if stop.is_set():
                return


async def _watch_and_cancel(
    base: str, token: str, task_id: str, viewers: int, seconds: float
) -> dict[str, Any]:
    import aiohttp

    headers = {"Authorization": f"Token {token}"}
    url = f"{base}/api/threat-feeds/tasks/stream/"
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    arrivals: list[list[tuple[float, str]]] = [[] for _ in range(viewers)]
    opened = [asyncio.Event() for _ in range(viewers)]
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=viewers + 8), timeout=timeout
    ) as session:
        tasks = [asyncio.create_task(_viewer(session, url, headers, task_id, arrivals[i], opened[i], stop))
                 for i in range(viewers)]  # fmt: skip
        await asyncio.wait_for(asyncio.gather(*(o.wait() for o in opened)), 30)
        watch_from = loop.time()
        await asyncio.sleep(seconds)
        sent = loop.time()
        async with session.post(f"{base}/api/threat-feeds/cancel-task/{task_id}/", headers=headers,
                                json={"mode": "stop_now", "reason": "bench stream"}) as response:  # fmt: skip
            assert response.status == 202, await response.text()
        deadline = loop.time() + 30
        terminal = {"stopped", "completed", "failed", "cancelled"}
        while loop.time() < deadline and not all(any(s in terminal for _, s in a) for a in arrivals):
            await asyncio.sleep(0.01)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    gaps = []
    seen_ms = []
    for a in arrivals:
        times = [t for t, s in a if watch_from <= t <= sent and s == "running"]
        gaps += [(b - x) * 1000 for x, b in itertools.pairwise(times)]
        done = [t for t, s in a if s in terminal]
        seen_ms.append((done[0] - sent) * 1000 if done else float("inf"))
    events = sum(len([1 for t, _ in a if watch_from <= t <= sent]) for a in arrivals)
    return {"viewers": viewers, "watched_s": sent - watch_from, "events_received": events,
            "events_per_viewer_per_s": events / viewers / max(sent - watch_from, 1e-9),
            "gap_p50_ms": common.percentile(gaps, 50), "gap_p99_ms": common.percentile(gaps, 99),
            "gap_max_ms": max(gaps) if gaps else float("nan"), "gaps": len(gaps),
            "terminal_seen_p50_ms": common.percentile(seen_ms, 50),
            "terminal_seen_p99_ms": common.percentile(seen_ms, 99)}  # fmt: skip


def viewers_during_ingest(viewers: int, seconds: float, reps: int) -> list[dict[str, Any]]:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from threat_feeds.demo.taxii_server import start_in_process
    from threat_feeds.services.runs import feed_run_start

    user, _ = get_user_model().objects.get_or_create(username="bench-stream")
    token = Token.objects.get_or_create(user=user)[0].key
    rows = []
    with gunicorn() as (base, argv), common.celery_worker():
        common.log(f"web: {' '.join(argv)}")
        server = start_in_process(common.demo_config(1_000_000, 1000))
        try:
            for rep in range(reps):
                common.flush_store()
                run = feed_run_start(feed=common.make_feed(server, page_size=1000), user=user)
                common.wait_run(run.pk, statuses=("running",), timeout=60)
                common.log(f"rep {rep + 1}: {viewers} viewers for {seconds:.0f} s, then stop_now")
                row = asyncio.run(_watch_and_cancel(base, token, str(run.task_id), viewers, seconds))
                run = common.wait_run(run.pk, timeout=60)
                row |= {"rep": rep + 1, "status": run.status, "fetched": run.fetched,
                        "cancel_ms_db": (run.finished_at - run.cancel_requested_at).total_seconds() * 1000}  # fmt: skip
                common.log(f"  gap p50 {row['gap_p50_ms']:.0f} ms p99 {row['gap_p99_ms']:.0f} ms; cancel "
                           f"{row['cancel_ms_db']:.0f} ms (DB), seen by viewers p99 {row['terminal_seen_p99_ms']:.0f} ms")  # fmt: skip
                rows.append(row)
        finally:
            server.stop()
    return rows


@contextlib.contextmanager
def without_publishing() -> Iterator[None]:
    from threat_feeds.control import progress
    from threat_feeds.services import runs

    saved = runs.publish_run, runs.publish_run_on_commit, progress.publish_run, runs.RunPublisher

    def noop(*_args: Any, **_kwargs: Any) -> None:
        return None

    class NoPublisher(progress.RunPublisher):
        def run(self) -> None:
            pass

    runs.publish_run = runs.publish_run_on_commit = progress.publish_run = noop  # type: ignore[assignment]
    runs.RunPublisher = NoPublisher  # type: ignore[misc]
    try:
        yield
    finally:
        runs.publish_run, runs.publish_run_on_commit, progress.publish_run, runs.RunPublisher = saved


@contextlib.contextmanager
def publishing_measured(spent: list[float]) -> Iterator[None]:
    """Count the CPU the run's publisher spends: its thread, and its PostgreSQL backend (read after
    each publish, while the backend lives). Appends the run's total to `spent`."""
    import threading
    import time

    import psutil
    from django.db import connection

    from threat_feeds.control import progress
    from threat_feeds.services import runs

    publish, publisher_class = progress.publish_run, runs.RunPublisher
    backend = {"cpu": 0.0}

    def measured_publish(run_id: int) -> bool:
        result = publish(run_id)
        if threading.current_thread().name.startswith("crisp-publish-") and connection.connection is not None:
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(connection.connection.info.backend_pid).cpu_times()
                backend["cpu"] = times.user + times.system
        return result

    class MeasuredPublisher(publisher_class):  # type: ignore[misc, valid-type]
        def run(self) -> None:
            started = time.thread_time()
            try:
                super().run()
            finally:
                spent.append(time.thread_time() - started + backend["cpu"])

    progress.publish_run = measured_publish  # type: ignore[assignment]
    runs.RunPublisher = MeasuredPublisher  # type: ignore[misc]
    try:
        yield
    finally:
        progress.publish_run, runs.RunPublisher = publish, publisher_class


def publish_cost(pairs: int, objects: int, page_size: int = 1000) -> dict[str, Any]:
    from threat_feeds.demo.taxii_server import start_in_process
    from threat_feeds.models import FeedRun
    from threat_feeds.services.runs import feed_run_execute

    rates: dict[str, list[float]] = {"publish": [], "none": []}
    cpu: dict[str, list[float]] = {"publish": [], "none": []}  # worker + PostgreSQL + Redis, per run
    publisher_cpu: list[float] = []  # of the runs with publishing: what the publisher itself spent
    server = start_in_process(common.demo_config(objects, page_size))
    try:
        for pair in range(pairs):
            for kind in ("publish", "none") if pair % 2 == 0 else ("none", "publish"):
                common.flush_store()
                run = FeedRun.objects.create(
                    feed=common.make_feed(server, page_size=page_size), cursor_before={}
                )
                before = common.stack_cpu_seconds()
                with without_publishing() if kind == "none" else publishing_measured(publisher_cpu):
                    status = feed_run_execute(run_id=run.pk, hostname="bench")
                after = common.stack_cpu_seconds()
                cpu[kind].append(sum(after.values()) - sum(before.values()))
                run.refresh_from_db()
                assert status == "completed" and run.fetched == objects, (status, run.error_message)
                rates[kind].append(objects / (run.finished_at - run.started_at).total_seconds())
            common.log(f"  publish cost pair {pair + 1}: publishing {rates['publish'][-1]:,.0f}/s "
                       f"({cpu['publish'][-1]:.2f} CPU s), none {rates['none'][-1]:,.0f}/s ({cpu['none'][-1]:.2f} CPU s)")  # fmt: skip
    finally:
        server.stop()
    with_, without = common.median(rates["publish"]), common.median(rates["none"])
    pair_costs = [1 - p / n for p, n in zip(rates["publish"], rates["none"], strict=True)]
    # CPU per run is far less sensitive than wall-clock to what else runs on the machine; on a
    # CPU-bound machine it is what throughput costs.
    cpu_pair_costs = [p / n - 1 for p, n in zip(cpu["publish"], cpu["none"], strict=True)]
    return {"objects": objects, "pairs": pairs, "publish_per_s": rates["publish"], "none_per_s": rates["none"],
            "median_publish": with_, "median_none": without, "cost_of_medians": 1 - with_ / without,
            "median_pair_cost": common.median(pair_costs), "pair_costs": pair_costs,
            "cpu_publish_s": cpu["publish"], "cpu_none_s": cpu["none"],
            "cpu_cost_of_medians": common.median(cpu["publish"]) / common.median(cpu["none"]) - 1,
            "cpu_median_pair_cost": common.median(cpu_pair_costs), "cpu_pair_costs": cpu_pair_costs,
            "publisher_cpu_s": publisher_cpu,
            "publisher_share": [p / c for p, c in zip(publisher_cpu, cpu["publish"], strict=True)]}  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions, shorter phases")
    p.add_argument("--viewers", type=int, default=100)
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--pairs", type=int, default=None)
    p.add_argument("--objects", type=int, default=None, help="objects per run of the publish-cost pairs")
    p.add_argument("--skip-cost", action="store_true")
    p.add_argument("--skip-viewers", action="store_true", help="only the publish-cost pairs")
    ns = p.parse_args(argv)
    seconds = ns.seconds or (10.0 if ns.quick else 20.0)
    reps = ns.reps or (2 if ns.quick else 5)
    pairs = ns.pairs or (2 if ns.quick else 4)
    objects = ns.objects or (20_000 if ns.quick else 50_000)
    common.setup_django()
    common.prepare_database(os.environ["DATABASE_URL"])
    load_before = os.getloadavg()
    rows = [] if ns.skip_viewers else viewers_during_ingest(ns.viewers, seconds, reps)
    cost = None if ns.skip_cost else publish_cost(pairs, objects)
    common.print_table(
        f"live stream, {ns.viewers} viewers during an ingest (gap between a run's events at one viewer)",
        ["rep", "events/viewer/s", "gap p50", "gap p99", "gap max", "cancel ms (DB)", "terminal seen p50",
         "terminal seen p99", "status"],
        [[r["rep"], round(r["events_per_viewer_per_s"], 2), round(r["gap_p50_ms"]), round(r["gap_p99_ms"]),
          round(r["gap_max_ms"]), round(r["cancel_ms_db"]), round(r["terminal_seen_p50_ms"]),
          round(r["terminal_seen_p99_ms"]), r["status"]] for r in rows],
    )  # fmt: skip
    if cost:
        print(
            f"\npublishing cost on ingest ({cost['objects']:,} objects, {cost['pairs']} pairs): "
            f"{cost['median_publish']:,.0f}/s with vs {cost['median_none']:,.0f}/s without -> "
            f"{cost['cost_of_medians']:.1%} (median of pairs {cost['median_pair_cost']:.1%}, pairs "
            f"{min(cost['pair_costs']):+.1%} .. {max(cost['pair_costs']):+.1%})"
        )
        print(f"  CPU (worker + PostgreSQL + Redis) per run: {common.median(cost['cpu_publish_s']):.2f} s with vs "
              f"{common.median(cost['cpu_none_s']):.2f} s without -> {cost['cpu_cost_of_medians']:+.1%} (median of pairs "
              f"{cost['cpu_median_pair_cost']:+.1%}, pairs {min(cost['cpu_pair_costs']):+.1%} .. "
              f"{max(cost['cpu_pair_costs']):+.1%})")  # fmt: skip
        shares = cost["publisher_share"]
        print(f"  the publisher's own CPU (its thread + its PostgreSQL backend): median {common.median(shares):.2%} "
              f"of each run's CPU (runs {min(shares):.2%} .. {max(shares):.2%})")  # fmt: skip
    result = {"quick": ns.quick, "viewers": ns.viewers, "seconds": seconds, "rows": rows,
              "gap_p99_ms": max((r["gap_p99_ms"] for r in rows), default=None),
              "cancel_ms_db_p99": common.percentile([r["cancel_ms_db"] for r in rows], 99) if rows else None,
              "publish_cost": cost, "load_before": load_before}  # fmt: skip
    common.save_results("stream", result)
    return result


if __name__ == "__main__":
    main()
