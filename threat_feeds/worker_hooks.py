"""Celery worker wiring: what the operator's own tools do to a run (SPEC §5 "The operator's tools").

These run in the worker's main process, which outlives the pool process running the task, and
hand each event to services/worker_events.py in a thread of its own (database work must not
stall the worker's event loop):

- task_revoked: `celery control revoke/terminate` (CLI, Flower) or CRISP's own escalation:
  the run is finalised once the process is gone.
- a plain revoke of a running task (Celery lets it run on): noticed by RevokeWatch, a bootstep
  that looks at the worker's revoked ids twice a second; the run stops at its next checkpoint.
- worker_shutting_down (SIGTERM, `docker compose stop`, a deploy): runs hand themselves back to
  the queue at their next checkpoint instead of making the warm shutdown wait for them.
- task_failure with WorkerLostError: the pool process died (SIGKILL, OOM): interrupted at once
  (not after the heartbeat timeout), then resumed when the feed allows it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import psutil
from celery import bootsteps, signals
from celery.exceptions import WorkerLostError
from celery.worker import state

log = logging.getLogger(__name__)
CONSUME_TASK = "threat_feeds.consume_feed_task"

# The pool forks replacement processes from this (main) process. A fork taken while one of our
# threads is inside a database call copies that connection's lock state into the child, which
# SQLite then believes it holds ("database is locked" for good). Database work here therefore
# holds this lock, and so does every fork (os.register_at_fork).
_fork_guard = threading.Lock()
os.register_at_fork(
    before=_fork_guard.acquire, after_in_parent=_fork_guard.release, after_in_child=_fork_guard.release
)


def _db(target: Callable[..., Any], **kwargs: Any) -> Any:
    from django.db import connection

    with _fork_guard:
        try:
            return target(**kwargs)
        finally:
            connection.close()


def _in_thread(name: str, work: Callable[[], Any]) -> None:
    def guarded() -> None:
        try:
            work()
        except Exception:
            log.exception("%s failed", name)

    threading.Thread(target=guarded, name=f"crisp-{name}", daemon=False).start()


def process_gone(pid: int, timeout: float) -> bool:
    """Wait until pool process `pid` has exited (a zombie counts: it runs no code)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


@signals.task_revoked.connect
def on_task_revoked(sender: Any = None, request: Any = None, terminated: bool = False, signum: Any = None,
                    expired: bool = False, **_: Any) -> None:  # fmt: skip
    if getattr(sender, "name", None) != CONSUME_TASK or request is None:
        return
    from django.conf import settings
    from django.utils import timezone

    from threat_feeds.services import worker_events

    task_id, requested_at = request.id, timezone.now()

    def work() -> None:
        pid = _db(worker_events.run_worker_pid, task_id=task_id)
        if terminated and pid and not process_gone(pid, settings.CRISP_TERMINATE_WAIT_SECONDS):
            # It ignored the signal: finalising is still safe, its next batch finds the run finished.
            log.warning("task %s: process %s still alive after terminate", task_id, pid)
        _db(worker_events.run_revoked_through_celery, task_id=task_id, terminated=terminated, signum=signum,
            requested_at=requested_at)  # fmt: skip

    _in_thread("revoked", work)


@signals.task_failure.connect
def on_task_failure(sender: Any = None, task_id: str | None = None, exception: BaseException | None = None,
                    **_: Any) -> None:  # fmt: skip
    if getattr(sender, "name", None) != CONSUME_TASK or not isinstance(exception, WorkerLostError):
        return
    from threat_feeds.services.worker_events import run_worker_lost

    _in_thread("worker-lost", partial(_db, run_worker_lost, task_id=task_id, detail=str(exception)))


@signals.worker_shutting_down.connect
def on_worker_shutting_down(sender: Any = None, how: str = "", **_: Any) -> None:
    task_ids = [r.id for r in list(state.active_requests) if r.name == CONSUME_TASK]
    if not task_ids:
        return
    from threat_feeds.services.worker_events import runs_hand_back

    # A warm shutdown waits for the pool; the runs must hear of it now, not when they end.
    _in_thread("hand-back", partial(_db, runs_hand_back, task_ids=task_ids, hostname=str(sender or "")))


class RevokeWatch(bootsteps.StartStopStep):
    """Stops a running run whose task was revoked without terminate (Celery would let it run on)."""

    requires = {"celery.worker.components:Timer"}
    interval = 0.5

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.handled: set[str] = set()
        self.tref: Any = None

    def start(self, worker: Any) -> None:
        self.tref = worker.timer.call_repeatedly(self.interval, self.check, priority=10)

    def stop(self, worker: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()

    def check(self) -> None:
        for request in list(state.active_requests):
            revoked = request.id in state.revoked and not getattr(request, "_already_revoked", False)
            if request.name != CONSUME_TASK or not revoked or request.id in self.handled:
                continue
            from threat_feeds.services.worker_events import run_revoked_while_running

            self.handled.add(request.id)
            _in_thread("revoke-watch", partial(_db, run_revoked_while_running, task_id=request.id))
