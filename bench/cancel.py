"""Cancellation: cancel -> terminal latency (mid-ingest and during a stalled read, stop_now and
cancel_job), rollback time of a 100,000-object run, and the cost of checkpoints on throughput.

Latency is the database's own record: run.finished_at - run.cancel_requested_at, both written by
the product (`feed_run_cancel` and `run_finalize`). Runs go through a real worker (`celery worker
-P prefork -c 1`), real Redis (the pub/sub signal) and DATABASE_URL. Trials of both modes are
interleaved in random order; the store is flushed before every trial.

- mid-ingest: the worker ingests a 200,000-object collection from the demo server (own process,
  pages of 1,000) and is cancelled at a random moment 0-800 ms after its first stored page.
- stalled read: a server (thread of this process) answers 3 pages of 100, then accepts the next
  request and never answers; the cancel comes 100-400 ms after the worker starts waiting.

Saves a CDF per scenario to docs/cancel-latency.png.

    python -m bench.cancel [--quick] [--trials 30]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from typing import Any

from bench import common
from bench.cancel_cost import checkpoint_cost, rollback

PLOT = common.REPO / "docs" / "cancel-latency.png"
TARGETS_MS = {"mid-ingest": 100.0, "stalled read": 250.0}
STUCK_AFTER_S = 30.0  # a run not terminal this long after its cancel is reported as stuck


def _ms(later: Any, earlier: Any) -> float:
    return (later - earlier).total_seconds() * 1000 if later and earlier else math.nan


class Workers:
    """The real worker, restarted after a trial leaves a run stuck (its child may be wedged)."""

    def __init__(self) -> None:
        self.context: Any = None
        self.restarts = 0
        self.start()

    def start(self) -> None:
        self.context = common.celery_worker()
        self.context.__enter__()

    def after(self, row: dict[str, Any]) -> dict[str, Any]:
        if str(row["status"]).startswith("stuck"):
            common.log(f"  run stuck after cancel ({row['status']}); restarting the worker")
            self.close()
            self.restarts += 1
            self.start()
        return row

    def close(self) -> None:
        self.context.__exit__(None, None, None)


def _trial(server: Any, page_size: int, mode: str, ready: Any, delay: float) -> dict[str, Any]:
    from django.db import DatabaseError
    from django.utils import timezone

    from threat_feeds.control.cancellation import feed_run_cancel
    from threat_feeds.models import FeedRun
    from threat_feeds.services.runs import feed_run_start

    common.flush_store()
    run = feed_run_start(feed=common.make_feed(server, page_size=page_size), user=None)
    deadline = time.monotonic() + 60
    while not ready(run := FeedRun.objects.get(pk=run.pk)):
        if run.status not in ("queued", "running") or time.monotonic() > deadline:
            raise RuntimeError(f"run {run.pk} not cancellable: {run.status} {run.error_message}")
        time.sleep(0.005)
    time.sleep(delay)
    first_attempt, failures, clock = timezone.now(), [], time.perf_counter()
    while True:  # a cancel that fails (e.g. a database deadlock) is retried, as a user would, and counted
        try:
            feed_run_cancel(run_id=run.pk, user=None, mode=mode, reason="bench")
            break
        except DatabaseError as exc:
            failures.append(str(exc).splitlines()[0])
            if len(failures) > 5:
                raise
    try:
        run = common.wait_run(run.pk, timeout=STUCK_AFTER_S, poll=0.005)
        observed = (time.perf_counter() - clock) * 1000
    except TimeoutError:  # never terminal: counted as an infinite latency, and the worker is restarted
        run = FeedRun.objects.get(pk=run.pk)
        return {"mode": mode, "status": f"stuck in {run.status}", "latency_ms": math.inf, "acknowledged_ms":
                _ms(run.cancel_acknowledged_at, run.cancel_requested_at), "delay_s": delay, "fetched": run.fetched,
                "pages": run.pages, "removed": None, "escalated": False, "failed_attempts": failures,
                "from_first_attempt_ms": math.inf, "observed_ms": math.inf,
                "db_busy_after_terminal_ms": math.nan}  # fmt: skip
    busy_after = common.quiesce_seconds() * 1000  # the worker still writing after "terminal"?
    latency = _ms(run.finished_at, run.cancel_requested_at)
    from_first_attempt = _ms(run.finished_at, first_attempt)
    acknowledged = _ms(run.cancel_acknowledged_at, run.cancel_requested_at)
    return {"mode": mode, "status": run.status, "latency_ms": latency, "acknowledged_ms": acknowledged,
            "delay_s": delay, "fetched": run.fetched, "pages": run.pages, "removed": run.objects_removed,
            "escalated": run.cancel_escalated, "failed_attempts": failures,
            "from_first_attempt_ms": from_first_attempt, "observed_ms": observed,
            "db_busy_after_terminal_ms": busy_after}  # fmt: skip


def mid_ingest(trials: int, rng: random.Random, workers: Workers) -> list[dict[str, Any]]:
    from threat_feeds.demo.taxii_server import start_in_process

    server = start_in_process(common.demo_config(200_000, 1000))
    modes = ["stop_now", "cancel_job"] * trials
    rng.shuffle(modes)
    try:
        return [
            workers.after(
                {
                    "scenario": "mid-ingest",
                    **_trial(server, 1000, mode, lambda r: r.pages >= 1, rng.uniform(0, 0.8)),
                }
            )
            for mode in modes
        ]
    finally:
        server.stop()


def stalled_read(trials: int, rng: random.Random, workers: Workers) -> list[dict[str, Any]]:
    from threat_feeds.demo.config import ServerConfig
    from threat_feeds.demo.taxii_server import start_in_thread

    modes = ["stop_now", "cancel_job"] * trials
    rng.shuffle(modes)
    rows = []
    for mode in modes:
        server = start_in_thread(ServerConfig(objects=2000, page_max=100, stall_after_pages=3))
        try:

            def blocked(run: Any, server: Any = server) -> bool:
                return run.pages >= 3 and run.stage == "fetching" and server.server.stats.stalled >= 1

            trial = _trial(server, 100, mode, blocked, rng.uniform(0.1, 0.4))
            rows.append(workers.after({"scenario": "stalled read", **trial}))
        finally:
            server.stop()
    return rows


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Percentiles of the DB-recorded latency and of the latency observed by the caller (see main)."""
    out = []
    for scenario, target in TARGETS_MS.items():
        for mode in ("stop_now", "cancel_job"):
            group = [r for r in rows if r["scenario"] == scenario and r["mode"] == mode]
            if not group:
                continue
            expected = "stopped" if mode == "stop_now" else "cancelled"
            entry: dict[str, Any] = {"scenario": scenario, "mode": mode, "n": len(group), "target_p99_ms": target,
                                     "correct_status": sum(r["status"] == expected for r in group),
                                     "failed_cancel_requests": sum(len(r["failed_attempts"]) for r in group)}  # fmt: skip
            for key in ("latency_ms", "observed_ms", "acknowledged_ms", "from_first_attempt_ms",
                        "db_busy_after_terminal_ms"):  # fmt: skip
                sample = [r[key] for r in group]
                for q in (50, 95, 99):
                    entry[f"{key}_p{q}"] = common.percentile(sample, q)
            entry["met"] = max(entry["latency_ms_p99"], entry["observed_ms_p99"]) <= target
            out.append(entry)
    return out


def plot(rows: list[dict[str, Any]], rollback_rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    for ax, (scenario, target) in zip(axes, TARGETS_MS.items(), strict=True):
        for mode, color in (("stop_now", "tab:blue"), ("cancel_job", "tab:orange")):
            for key, style, what in (("latency_ms", "-", "DB"), ("observed_ms", ":", "seen by caller")):
                group = sorted(r[key] for r in rows if r["scenario"] == scenario and r["mode"] == mode)
                sample = [x for x in group if math.isfinite(x)]
                if not group:
                    continue
                ys = [(i + 1) / len(group) for i in range(len(sample))]
                stuck = f", {len(group) - len(sample)} never terminal" if len(sample) < len(group) else ""
                ax.step(
                    sample,
                    ys,
                    style,
                    color=color,
                    where="post",
                    label=f"{mode}, {what} (n={len(group)}{stuck})",
                )
        ax.axvline(target, color="grey", linestyle="--", linewidth=1)
        ax.text(target, 0.55, f" p99 target\n {target:.0f} ms", fontsize=8, color="grey")
        if scenario == "mid-ingest":
            for r in rollback_rows:
                ax.axvline(r["observed_s"] * 1000, color="tab:red", alpha=0.5, linewidth=1)
            if rollback_rows:
                ax.plot(
                    [],
                    [],
                    color="tab:red",
                    alpha=0.5,
                    label="cancel_job of a 100k-object run, seen (each rep)",
                )
        ax.axhline(0.99, color="grey", linewidth=0.5)
        ax.set_xscale("log")
        ax.set_title(f"cancel during {scenario}")
        ax.set_xlabel("cancel -> run terminal (ms, log scale)")
        ax.legend(loc="lower right", fontsize=7, framealpha=0.9)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("fraction of trials (CDF)")
    fig.suptitle("CRISP cancel latency: real worker, Redis and PostgreSQL on a shared 2-core machine")
    fig.tight_layout()
    PLOT.parent.mkdir(exist_ok=True)
    fig.savefig(PLOT, dpi=110)
    print(f"plot saved to {PLOT.relative_to(common.REPO)}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 rollback repetition, smaller checkpoint-cost runs")
    p.add_argument("--trials", type=int, default=30, help="trials per scenario and mode (>= 30 for p99)")
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--skip", nargs="*", default=[], choices=["mid", "stalled", "rollback", "cost"])
    p.add_argument("--plot-only", action="store_true", help="redraw the plot from the last saved results")
    ns = p.parse_args(argv)
    if ns.plot_only:
        last = json.loads((common.RESULTS / "cancel.jsonl").read_text().splitlines()[-1])
        plot(last["trials"], last["rollback"])
        return last
    rng = random.Random(ns.seed)
    common.setup_django()
    common.prepare_database(common.os.environ["DATABASE_URL"])
    rows: list[dict[str, Any]] = []
    rollback_rows: list[dict[str, Any]] = []
    cost: dict[str, Any] = {}
    workers = Workers()
    try:
        if "mid" not in ns.skip:
            common.log(f"mid-ingest cancels: {ns.trials} x stop_now, {ns.trials} x cancel_job")
            rows += mid_ingest(ns.trials, rng, workers)
        if "stalled" not in ns.skip:
            common.log(f"stalled-read cancels: {ns.trials} x stop_now, {ns.trials} x cancel_job")
            rows += stalled_read(ns.trials, rng, workers)
        if "rollback" not in ns.skip:
            common.log("rollback of a 100,000-object run")
            rollback_rows = rollback(1 if ns.quick else 3)
    finally:
        workers.close()
    if "cost" not in ns.skip:
        pairs, objects = (4, 20_000) if ns.quick else (6, 50_000)
        common.log(f"checkpoint cost: {pairs} interleaved pairs of {objects:,}-object runs, in this process")
        try:
            cost = checkpoint_cost(pairs, objects)
        except Exception as exc:  # noqa: BLE001 - keep the latency results; report the failure
            common.log(f"checkpoint cost failed: {type(exc).__name__}: {exc}")
            cost = {}
    summary = summarise(rows)
    common.print_table(
        "cancel -> terminal latency, ms (DB: finished_at - cancel_requested_at; seen: cancel call -> terminal "
        "status visible, 5 ms poll)",
        ["scenario", "mode", "n", "ok", "DB p50", "DB p95", "DB p99", "seen p50", "seen p95", "seen p99",
         "ack p99", "target", "met", "failed calls", "DB busy after p99"],
        [[s["scenario"], s["mode"], s["n"], s["correct_status"], *(round(s[f"latency_ms_p{q}"], 1) for q in (50, 95, 99)),
          *(round(s[f"observed_ms_p{q}"], 1) for q in (50, 95, 99)), round(s["acknowledged_ms_p99"], 1),
          s["target_p99_ms"], "yes" if s["met"] else "NO", s["failed_cancel_requests"],
          round(s["db_busy_after_terminal_ms_p99"], 1)] for s in summary],
    )  # fmt: skip
    if rollback_rows:
        common.print_table("cancel_job of a 100,000-object run (target <= 3 s)",
                           ["rep", "stored", "status", "removed", "DB cancel->terminal s", "seen s",
                            "run_rollback() s", "of which statements s", "commit s"],
                           [[r["rep"], r["objects_stored"], r["status"], r["objects_removed"],
                             round(r["cancel_to_terminal_s"], 3), round(r["observed_s"], 2),
                             round(r["direct_run_rollback_s"], 2), round(r["direct_statements_s"], 2),
                             round(r["direct_commit_s"], 2)] for r in rollback_rows])  # fmt: skip
    if cost:
        common.print_table("cost of checkpoints on ingest throughput (target <= 2 %)",
                           ["objects", "pairs", "real median/s", "no-op median/s", "cost (medians)",
                            "cost (median of pairs)"],
                           [[cost["objects"], cost["pairs"], cost["median_real"], cost["median_noop"],
                             f"{100 * cost['cost_of_medians']:.1f}%", f"{100 * cost['median_pair_cost']:.1f}%"]])  # fmt: skip
    if rows:
        plot(rows, rollback_rows)
    result = {
        "quick": ns.quick,
        "worker_restarts": workers.restarts,
        "summary": summary,
        "trials": rows,
        "rollback": rollback_rows,
        "checkpoint_cost": cost,
    }
    common.save_results("cancel", result)
    return result


if __name__ == "__main__":
    main()
