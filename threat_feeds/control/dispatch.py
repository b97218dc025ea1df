"""Celery messaging for runs: send a run's task, revoke it, and ask the broker whether it still holds it.

The one place below the services that talks to Celery, so services never import tasks.py (which
imports them) and the task is addressed by name.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)
CONSUME_TASK = "threat_feeds.consume_feed_task"


def _app() -> Any:
    from crisp.celery import app

    return app


def default_queue() -> str:
    """The queue a run's task goes to (recorded on the run, so a re-enqueue goes to the same one)."""
    return str(_app().conf.task_default_queue)


def enqueue_run(*, run_id: int, task_id: str, queue: str) -> None:
    """Send the run's task; task id = the run's task id, so revoke/terminate address this run."""
    _app().send_task(CONSUME_TASK, args=[run_id], task_id=task_id, queue=queue or None)


def revoke(task_id: str, *, terminate: bool = False, signal: str = "SIGTERM") -> None:
    _app().control.revoke(task_id, terminate=terminate, signal=signal)


def broker_holds(task_id: str, queue: str) -> bool | None:
    """Whether the broker still holds the task's message: waiting in `queue`, or delivered to a
    worker and not yet acknowledged. None when the broker cannot be inspected (not Redis)."""
    app = _app()
    try:
        with app.connection_for_read() as conn:
            channel = conn.default_channel
            client = getattr(channel, "client", None)
            if client is None or not hasattr(channel, "priority"):
                return None
            needle = task_id.encode()
            # kombu's Redis transport: one list per priority step, plus the unacked hash.
            lists = {channel._q_for_pri(queue or default_queue(), pri) for pri in channel.priority_steps}
            for key in lists:
                if any(needle in raw for raw in client.lrange(key, 0, -1)):
                    return True
            return any(needle in raw for raw in client.hvals(channel.unacked_key))
    except Exception as exc:  # noqa: BLE001 - an unreachable broker is "unknown", never "lost"
        log.warning("could not inspect the broker for task %s: %s", task_id, exc)
        return None
