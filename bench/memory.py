"""Worker peak memory for feeds of 10k, 100k and 1M objects (target: <= 300 MB, flat in feed size).

For every size a fresh real worker (`celery worker -P prefork -c 1`) ingests the whole feed from
the demo TAXII server (own process, pages of 5,000: the largest page is the worst case for memory)
into DATABASE_URL. The pool child that runs the task is sampled with psutil every 100 ms, and its
kernel high-water mark (VmHWM in /proc/<pid>/status: the exact peak RSS) is read once the run is
over, before the worker stops. The run's throughput is recorded too.

    python -m bench.memory [--quick] [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path
from typing import Any

from bench import common

MB = 1024 * 1024


def vm_hwm(pid: int) -> float:
    """Peak resident set size of a live process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Sampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        import psutil

        self.process = psutil.Process(pid)
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        import psutil

        while not self.stop_event.wait(self.interval):
            try:
                self.samples.append((time.monotonic() - started, self.process.memory_info().rss / MB))
            except psutil.Error:  # the child went away
                return


def _segment_rate(progress: list[tuple[float, int]], low: float, high: float) -> float:
    """Objects/s while the run went from `low` to `high` objects fetched (from the progress samples)."""
    inside = [(t, n) for t, n in progress if low <= n <= high]
    if len(inside) < 2 or inside[-1][1] == inside[0][1]:
        return float("nan")
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def measure(size: int, page_size: int) -> dict[str, Any]:
    from threat_feeds.choices import RunStatus
    from threat_feeds.demo.taxii_server import start_in_process
    from threat_feeds.models import FeedRun
    from threat_feeds.services.runs import feed_run_start

    server = start_in_process(common.demo_config(size, page_size))
    try:
        with common.celery_worker() as worker:
            (child,) = worker.child_pids()
            common.flush_store()
            baseline = vm_hwm(child)
            sampler = Sampler(child)
            feed = common.make_feed(server, page_size=page_size)
            sampler.start()
            started = time.perf_counter()
            run_id = feed_run_start(feed=feed, user=None).pk
            progress: list[tuple[float, int]] = []  # (seconds, objects fetched): does the rate hold up?
            while (run := FeedRun.objects.get(pk=run_id)).status not in RunStatus.terminal():
                progress.append((time.perf_counter() - started, run.fetched))
                time.sleep(0.05)
            wall = time.perf_counter() - started
            sampler.stop_event.set()
            sampler.join()
            peak = vm_hwm(child)
    finally:
        server.stop()
    seconds = (run.finished_at - run.started_at).total_seconds()
    rss = [mb for _, mb in sampler.samples]
    first, last = _segment_rate(progress, 0.0, 0.1 * size), _segment_rate(progress, 0.9 * size, size)
    return {"objects": size, "page_size": page_size, "status": run.status, "fetched": run.fetched,
            "baseline_mb": baseline, "peak_mb": peak, "sampled_peak_mb": max(rss, default=float("nan")),
            "growth_mb": peak - baseline, "db_seconds": seconds, "wall_seconds": wall,
            "objects_per_s": run.fetched / seconds,
        "first_10pct_per_s": first,
        "last_10pct_per_s": last, "samples": sampler.samples[:: max(1, len(rss) // 200)]}  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="10k and 100k only")
    p.add_argument("--sizes", type=int, nargs="+", default=None)
    p.add_argument("--page-size", type=int, default=5000)
    ns = p.parse_args(argv)
    sizes = ns.sizes or ([10_000, 100_000] if ns.quick else [10_000, 100_000, 1_000_000])
    common.setup_django()
    common.prepare_database(common.os.environ["DATABASE_URL"])
    rows = []
    for size in sizes:
        common.log(f"memory: {size:,} objects, fresh worker, page size {ns.page_size}")
        row = measure(size, ns.page_size)
        common.log(f"  {row['status']}: peak {row['peak_mb']:.0f} MB (idle {row['baseline_mb']:.0f} MB), "
                   f"{row['objects_per_s']:,.0f} objects/s")  # fmt: skip
        rows.append(row)
    common.print_table(
        "worker peak RSS (pool child; VmHWM = kernel high-water mark)",
        ["objects", "status", "idle MB", "peak MB", "sampled peak MB", "growth MB", "objects/s", "first 10% /s",
         "last 10% /s", "run s"],
        [[r["objects"], r["status"], round(r["baseline_mb"], 1), round(r["peak_mb"], 1),
          round(r["sampled_peak_mb"], 1), round(r["growth_mb"], 1), r["objects_per_s"], r["first_10pct_per_s"],
          r["last_10pct_per_s"], round(r["db_seconds"], 1)] for r in rows],
    )  # fmt: skip
    peaks = [r["peak_mb"] for r in rows]
    verdict = {"max_peak_mb": max(peaks), "spread_mb": max(peaks) - min(peaks), "target_mb": 300}
    print(f"\npeak {max(peaks):.0f} MB (target <= 300 MB); spread across sizes {verdict['spread_mb']:.1f} MB")
    result = {"quick": ns.quick, "rows": rows, "verdict": verdict}
    common.save_results("memory", result)
    return result


if __name__ == "__main__":
    main()
