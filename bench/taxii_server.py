"""CRISP's TAXII 2.1 server paging through a large store: server memory and pages per second.

Fills the store with N objects (a real worker ingesting the fast demo TAXII server), starts the
web as `make run` does (gunicorn + one uvicorn worker, its own process), then reads the "Everything"
collection with taxii2-client (`as_pages`, 1,000 per request) while sampling the web worker's RSS.
Constant memory means the RSS after the last page is about what it was after the first.

    python -m bench.taxii_server [--objects 100000]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from typing import Any

from bench import common

USER, PASSWORD = "bench-taxii", "bench-taxii-pass-1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _fill(objects: int) -> int:
    from threat_feeds.demo.taxii_server import start_in_thread
    from threat_feeds.models import StixObject
    from threat_feeds.services.runs import feed_run_start

    server = start_in_thread(common.demo_config(objects, 1000))
    try:
        with common.celery_worker():
            run = feed_run_start(feed=common.make_feed(server, page_size=1000), user=None)
            done = common.wait_run(run.pk, timeout=1800)
            common.log(f"store filled: {done.status}, {done.created:,} objects created")
    finally:
        server.stop()
    return StixObject.objects.count()


def _web(port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gunicorn", "crisp.asgi:application", "-k", "uvicorn_worker.UvicornWorker",
               "--workers", "1", "--bind", f"127.0.0.1:{port}", "--no-control-socket"]  # fmt: skip
    env = {**os.environ, "CRISP_SERVER": "asgi", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, cwd=common.REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the web did not start") from None
            time.sleep(0.2)


def _rss_mb(process: subprocess.Popen[bytes]) -> float:
    import psutil

    parent = psutil.Process(process.pid)
    return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)]) / 1e6


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    args = parser.parse_args(argv)
    common.prepare_database(os.environ["DATABASE_URL"])
    common.setup_django()
    from django.contrib.auth import get_user_model
    from taxii2client.v21 import Collection, as_pages

    from threat_feeds.taxii.backend import API_ROOT, EVERYTHING

    stored = _fill(args.objects)
    get_user_model().objects.create_user(USER, password=PASSWORD)
    port = _free_port()
    web = _web(port)
    samples: list[tuple[int, float]] = []
    try:
        collection = Collection(f"http://127.0.0.1:{port}/taxii2/{API_ROOT}/collections/{EVERYTHING}/",
                                user=USER, password=PASSWORD)  # fmt: skip
        read, started = 0, time.perf_counter()
        for envelope in as_pages(collection.get_objects, per_request=1000):
            read += len(envelope.get("objects", []))
            samples.append((read, _rss_mb(web)))
        elapsed = time.perf_counter() - started
    finally:
        web.terminate()
        web.wait(timeout=30)
    first, peak, last = samples[0][1], max(mb for _, mb in samples), samples[-1][1]
    rows = [[f"{n:,}", f"{mb:.0f}"] for n, mb in samples if n in {samples[0][0], 10_000, 50_000} or n == read]
    common.print_table(
        "web RSS (MB, gunicorn master + uvicorn worker) after reading", ["objects", "RSS MB"], rows
    )
    print(f"read {read:,} of {stored:,} stored objects in {len(samples)} pages, {elapsed:.1f} s "
          f"({read / elapsed:,.0f} objects/s); RSS first page {first:.0f} MB, peak {peak:.0f} MB, last {last:.0f} MB")  # fmt: skip
    payload = {"objects": stored, "read": read, "seconds": elapsed, "rss_first_mb": first, "rss_peak_mb": peak,
               "rss_last_mb": last}  # fmt: skip
    common.save_results("taxii_server", payload)
    return payload


if __name__ == "__main__":
    main()
