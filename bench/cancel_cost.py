"""Parts of bench.cancel that need a lot of data: rollback of a 100,000-object run, and the cost of
cancellation checkpoints on ingest throughput. Run through `python -m bench.cancel`."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from bench import common


def _ingest_until_stall(pages: int, page_size: int) -> tuple[Any, Any]:
    """Queue a run on a server that stalls after `pages` pages; return (server, run) once all are stored."""
    from threat_feeds.demo.taxii_server import start_in_process
    from threat_feeds.services.runs import feed_run_start

    server = start_in_process(
        common.demo_config(pages * page_size + page_size, page_size, stall_after_pages=pages)
    )
    common.flush_store()
    feed = common.make_feed(server, page_size=page_size)
    run = feed_run_start(feed=feed, user=None)
    deadline = time.monotonic() + 600
    while (run := type(run).objects.get(pk=run.pk)).pages < pages:
        if run.status != "running" and run.status != "queued" or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"run {run.pk} ended before {pages} pages: {run.status} {run.error_message}")
        time.sleep(0.05)
    time.sleep(0.2)  # the worker is now blocked in the stalled read of the next page
    return server, run


def rollback(repeat: int, objects: int = 100_000, page_size: int = 1000) -> list[dict[str, Any]]:
    """Per repetition: (1) cancel_job of a run that has stored `objects` objects, end to end through
    the worker; (2) the same store after stop_now, rolled back by a direct `run_rollback` call."""
    from django.db import connection

    from bench.profile_ingest import SqlTimer
    from threat_feeds.control.cancellation import feed_run_cancel
    from threat_feeds.control.rollback import run_rollback

    rows = []
    pages = objects // page_size
    for rep in range(repeat):
        server, run = _ingest_until_stall(pages, page_size)
        try:
            clock = time.perf_counter()
            feed_run_cancel(run_id=run.pk, user=None, mode="cancel_job", reason="bench rollback")
            run = common.wait_run(run.pk, timeout=120, poll=0.005)
            observed = time.perf_counter() - clock
        finally:
            server.stop()
        end_to_end = (run.finished_at - run.cancel_requested_at).total_seconds()
        server, kept = _ingest_until_stall(pages, page_size)
        try:
            feed_run_cancel(run_id=kept.pk, user=None, mode="stop_now", reason="bench rollback")
            kept = common.wait_run(kept.pk, timeout=120)
        finally:
            server.stop()
        timer = SqlTimer()
        started = time.perf_counter()
        with connection.execute_wrapper(timer):  # autocommit: run_rollback's atomic block commits on exit
            result = run_rollback(kept.pk)
        direct = time.perf_counter() - started
        statements = sum(seconds for _count, seconds in timer.stats.values())
        row = {"rep": rep + 1, "objects_stored": run.created, "status": run.status,
               "objects_removed": run.objects_removed, "cancel_to_terminal_s": end_to_end, "observed_s": observed,
               "direct_run_rollback_s": direct, "direct_statements_s": statements,
               "direct_commit_s": direct - statements, "direct_removed": result.removed,
               "direct_statement_times": {k: v[1] for k, v in timer.stats.items()}}  # fmt: skip
        common.log(f"  rollback rep {rep + 1}: cancel_job of {run.created:,} objects -> {run.status} in "
                   f"{observed:.2f} s (DB says {end_to_end:.3f} s); run_rollback of {result.removed:,} objects: {direct:.2f} s")  # fmt: skip
        rows.append(row)
    return rows


# --- checkpoint cost -----------------------------------------------------------------------
def _noop(*args: Any, **kwargs: Any) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


class NoopCheckpoint:
    """The checkpoint interface doing nothing: no event, no signal handler, no stage writes."""

    stubbed: set[str] = set()  # names answered by __getattr__ (reported with the result)
    reached = 0
    current_stage = ""

    def __init__(self, on_stage: Any = None) -> None:
        pass

    def __call__(self, where: str) -> None:
        pass

    def wait(self, seconds: float, *, reason: str) -> None:
        time.sleep(seconds)

    def stage(self, name: str) -> None:
        pass

    def protected(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def signal(self, mode: str) -> None:
        pass

    def on_signal(self, abort: Any) -> None:
        pass

    def arm(self) -> bool:
        return False

    def disarm(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        """Whatever the product's checkpoint grows later (e.g. `storing()`): a no-op, usable in `with`."""
        if name.startswith("__"):
            raise AttributeError(name)
        NoopCheckpoint.stubbed.add(name)
        return _noop


class NoopThread:
    """Stands in for CancelListener and RunMonitor: no Redis subscription, no heartbeat thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.ready = threading.Event()
        self.ready.set()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def beat(self) -> None:
        pass


@contextlib.contextmanager
def without_checkpoints() -> Iterator[None]:
    from threat_feeds.services import runs

    saved = runs.RunCheckpoint, runs.CancelListener, runs.RunMonitor
    runs.RunCheckpoint, runs.CancelListener, runs.RunMonitor = NoopCheckpoint, NoopThread, NoopThread  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        runs.RunCheckpoint, runs.CancelListener, runs.RunMonitor = saved


def checkpoint_cost(pairs: int, objects: int, page_size: int = 1000) -> dict[str, Any]:
    """`feed_run_execute` in this process (the worker's code path, main thread), real checkpoints vs
    no-op, alternating which goes first in each pair; the store is flushed before every run."""
    from threat_feeds.demo.taxii_server import start_in_process
    from threat_feeds.models import FeedRun
    from threat_feeds.services.runs import feed_run_execute

    rates: dict[str, list[float]] = {"real": [], "noop": []}
    server = start_in_process(common.demo_config(objects, page_size))
    try:
        for pair in range(pairs):
            order = ("real", "noop") if pair % 2 == 0 else ("noop", "real")
            for kind in order:
                common.flush_store()
                run = FeedRun.objects.create(
                    feed=common.make_feed(server, page_size=page_size), cursor_before={}
                )
                with without_checkpoints() if kind == "noop" else contextlib.nullcontext():
                    status = feed_run_execute(run_id=run.pk, hostname="bench")
                run.refresh_from_db()
                assert status == "completed" and run.fetched == objects, (status, run.error_message)
                rates[kind].append(objects / (run.finished_at - run.started_at).total_seconds())
            common.log(f"  checkpoint cost pair {pair + 1}: real {rates['real'][-1]:,.0f}/s, "
                       f"no-op {rates['noop'][-1]:,.0f}/s")  # fmt: skip
    finally:
        server.stop()
    pair_costs = [1 - r / n for r, n in zip(rates["real"], rates["noop"], strict=True)]
    real, noop = common.median(rates["real"]), common.median(rates["noop"])
    return {"objects": objects, "pairs": pairs, "real_per_s": rates["real"], "noop_per_s": rates["noop"],
            "median_real": real, "median_noop": noop, "cost_of_medians": 1 - real / noop,
            "median_pair_cost": common.median(pair_costs), "pair_costs": pair_costs,
            "noop_stubbed": sorted(NoopCheckpoint.stubbed)}  # fmt: skip
