"""`GET /api/threat-feeds/task-status/{task_id}/` under a fixed arrival rate of 200 requests/s
(target: p99 <= 25 ms).

gunicorn is started from the Procfile's `web:` line as written (uvicorn workers, access log), on
127.0.0.1 and a free port, against DATABASE_URL. The load generator is open-loop (asyncio +
aiohttp, keep-alive): request i is due at t0 + i/rate whatever happened to earlier ones, and its
latency is counted from that due time, so a stall shows up in the percentiles instead of slowing
the generator down (no coordinated omission). Two phases:

- idle: the run polled is finished, nothing else runs (answered from its live snapshot in Redis);
- idle, database path: the same run with its Redis snapshot deleted, so every request takes the
  fallback (token from the cache, two ORM queries): what task-status cost before issue 11;
- during ingest: the run polled is being ingested by a real worker from the demo TAXII server
  (1,000,000 objects), i.e. the situation in which clients poll task-status.

Capacity (closed loop, 16 clients) is measured idle for both the snapshot and the database path.

    python -m bench.task_status [--quick] [--rate 200] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench import common


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn() -> Iterator[tuple[str, list[str]]]:
    line = next(x for x in (common.REPO / "Procfile").read_text().splitlines() if x.startswith("web:"))
    port = free_port()
    argv = shlex.split(line.removeprefix("web:").replace("$PORT", str(port)))
    if "--bind" in argv and not argv[argv.index("--bind") + 1].startswith("127.0.0.1:"):
        raise SystemExit(f"Procfile web line does not bind to 127.0.0.1: {line}")
    log = common.VAR / "gunicorn-bench.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=common.REPO, env={**os.environ, "PORT": str(port)}, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"gunicorn did not start:\n{log.read_text()[-2000:]}") from None
            time.sleep(0.1)
    try:
        yield base, argv
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def _load(url: str, token: str, rate: float, seconds: float, warmup: float) -> dict[str, Any]:
    import aiohttp

    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    latencies: list[float] = []
    service: list[float] = []
    statuses: dict[str, int] = {}
    total = int((warmup + seconds) * rate)
    loop = asyncio.get_running_loop()

    async def one(session: aiohttp.ClientSession, due: float, record: bool) -> None:
        sent = loop.time()
        try:
            async with session.get(url, headers=headers) as response:
                await response.read()
                key = str(response.status)
        except aiohttp.ClientError as exc:
            key = type(exc).__name__
        done = loop.time()
        if record:
            latencies.append((done - due) * 1000)
            service.append((done - sent) * 1000)
            statuses[key] = statuses.get(key, 0) + 1

    cpu_before = sum(os.times()[:2])
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = loop.time() + 0.2
        tasks = []
        for i in range(total):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, due, i >= warmup * rate)))
        await asyncio.gather(*tasks)
        achieved = len(latencies) / (loop.time() - start - warmup)
        generator_cpu = (sum(os.times()[:2]) - cpu_before) / (loop.time() - start)  # share of one core
    return {"sent": len(latencies), "achieved_rate": achieved,
        "generator_cpu_share_of_one_core": generator_cpu, "statuses": statuses,
            **{f"p{q}_ms": common.percentile(latencies, q) for q in (50, 90, 99, 99.9)},
            "max_ms": max(latencies), "service_p99_ms": common.percentile(service, 99)}  # fmt: skip


async def _capacity(url: str, token: str, seconds: float, concurrency: int = 16) -> dict[str, Any]:
    """Closed loop: `concurrency` clients back to back; what the server can do at most, here and now."""
    import aiohttp

    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    latencies: list[float] = []

    async def client(session: aiohttp.ClientSession) -> None:
        while loop.time() < end:
            sent = loop.time()
            async with session.get(url, headers=headers) as response:
                await response.read()
            latencies.append((loop.time() - sent) * 1000)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        started = loop.time()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        elapsed = loop.time() - started
    return {"concurrency": concurrency, "requests": len(latencies), "requests_per_s": len(latencies) / elapsed,
            "p50_ms": common.percentile(latencies, 50), "p99_ms": common.percentile(latencies, 99)}  # fmt: skip


def profile_view(token: str, task_id: str, requests: int = 300) -> dict[str, Any]:
    """Where one request's time goes: the view through Django's test client in this process (no
    HTTP, no gunicorn), plain timing first, then cProfile; shares are of the profiled total."""
    import cProfile
    import pstats

    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    url = f"/api/threat-feeds/task-status/{task_id}/"
    for _ in range(20):
        assert client.get(url).status_code == 200
    started = time.perf_counter()
    for _ in range(requests):
        client.get(url)
    per_request_ms = (time.perf_counter() - started) * 1000 / requests
    profile = cProfile.Profile()
    profile.runcall(lambda: [client.get(url) for _ in range(requests)])
    raw: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = max(ct for (_cc, _nc, _tt, ct, _callers) in raw.values())
    wanted = (
        "rest_framework/",
        "django/db/",
        "threat_feeds/",
        "psycopg/",
        "django/core/handlers",
        "middleware",
    )
    rows = sorted(
        (
            {"function": f"{path.split('site-packages/')[-1].split('/work/main/')[-1]}:{line}({name})",
             "share": ct / total, "ms_per_request": 1000 * ct / requests}
            for (path, line, name), (_cc, _nc, _tt, ct, _callers) in raw.items()
            if any(w in path for w in wanted)
        ),
        key=lambda r: -r["share"],
    )  # fmt: skip
    return {"per_request_ms": per_request_ms, "top": rows[:25]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="10 s per phase")
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--seconds", type=float, default=30.0)
    ns = p.parse_args(argv)
    seconds = 10.0 if ns.quick else ns.seconds
    common.setup_django()
    common.prepare_database(os.environ["DATABASE_URL"])
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from threat_feeds.control.cancellation import feed_run_cancel
    from threat_feeds.control.progress import publish_run
    from threat_feeds.control.signals import redis_client
    from threat_feeds.demo.taxii_server import start_in_process
    from threat_feeds.models import FeedRun
    from threat_feeds.services.runs import feed_run_start

    load_before = os.getloadavg()
    common.flush_store()
    user, _ = get_user_model().objects.get_or_create(username="bench-status")
    token = Token.objects.get_or_create(user=user)[0].key
    phases = []
    with gunicorn() as (base, gargv):
        common.log(f"gunicorn: {' '.join(gargv)}")
        server = start_in_process(common.demo_config(1_000_000, 1000))
        try:
            feed = common.make_feed(server, page_size=1000)
            done = FeedRun.objects.create(feed=feed, requested_by=user, status="completed", fetched=1234,
                                          created=1234, pages=2)  # fmt: skip
            url = f"{base}/api/threat-feeds/task-status/{done.task_id}/"
            publish_run(done.pk)
            common.log(f"phase idle: {ns.rate:.0f} requests/s for {seconds:.0f} s (+2 s warm-up)")
            phases.append({"phase": "idle", **asyncio.run(_load(url, token, ns.rate, seconds, 2.0))})
            capacity = asyncio.run(_capacity(url, token, 5.0))
            common.log(
                f"capacity (closed loop, 16 clients, idle): {capacity['requests_per_s']:,.0f} requests/s"
            )
            redis_client().delete(f"crisp:run:{done.task_id}:snapshot")  # every request: the DB path
            common.log(f"phase idle, database path: {ns.rate:.0f} requests/s for {seconds:.0f} s")
            phases.append({"phase": "idle, DB path", **asyncio.run(_load(url, token, ns.rate, seconds, 2.0))})
            capacity_db = asyncio.run(_capacity(url, token, 5.0))
            common.log(f"capacity, database path: {capacity_db['requests_per_s']:,.0f} requests/s")
            publish_run(done.pk)
            with common.celery_worker():
                run = feed_run_start(feed=common.make_feed(server, page_size=1000), user=user)
                common.wait_run(run.pk, statuses=("running",))
                url = f"{base}/api/threat-feeds/task-status/{run.task_id}/"
                common.log(
                    f"phase during ingest: {ns.rate:.0f} requests/s for {seconds:.0f} s (+2 s warm-up)"
                )
                phases.append(
                    {"phase": "during ingest", **asyncio.run(_load(url, token, ns.rate, seconds, 2.0))}
                )
                run.refresh_from_db()
                phases[-1]["run_status_after"] = run.status
                if run.status == "running":
                    feed_run_cancel(run_id=run.pk, user=None, mode="stop_now", reason="bench done")
                    common.wait_run(run.pk, timeout=60)
        finally:
            server.stop()
    view = profile_view(token, str(done.task_id))
    common.print_table(
        f"where a task-status request's time goes, in-process ({view['per_request_ms']:.2f} ms/request unprofiled)",
        ["function", "share", "ms/request (profiled)"],
        [
            [r["function"][:100], f"{100 * r['share']:.1f}%", round(r["ms_per_request"], 2)]
            for r in view["top"]
        ],
    )
    common.print_table(
        f"task-status latency, ms (open loop at {ns.rate:.0f}/s, from each request's due time)",
        ["phase", "requests", "achieved/s", "statuses", "p50", "p90", "p99", "p99.9", "max", "target p99", "met",
         "load-gen CPU"],
        [[ph["phase"], ph["sent"], round(ph["achieved_rate"], 1), str(ph["statuses"]), round(ph["p50_ms"], 1),
          round(ph["p90_ms"], 1), round(ph["p99_ms"], 1), round(ph["p99.9_ms"], 1), round(ph["max_ms"], 1), 25,
          "yes" if ph["p99_ms"] <= 25 else "NO", f"{100 * ph['generator_cpu_share_of_one_core']:.0f}% of a core"]
         for ph in phases],
    )  # fmt: skip
    print(
        f"\ncapacity, closed loop with 16 clients (idle): {capacity['requests_per_s']:,.0f} requests/s, "
        f"p50 {capacity['p50_ms']:.1f} ms (snapshot); {capacity_db['requests_per_s']:,.0f} requests/s, "
        f"p50 {capacity_db['p50_ms']:.1f} ms (database path)"
    )
    result = {
        "quick": ns.quick,
        "rate": ns.rate,
        "seconds": seconds,
        "gunicorn": gargv,
        "phases": phases,
        "capacity": capacity,
        "capacity_db_path": capacity_db,
        "load_before": load_before,
        "view_profile": view,
    }
    common.save_results("task_status", result)
    return result


if __name__ == "__main__":
    main()
