"""Cancel signals through Redis: a key addressed to one run plus a pub/sub wake-up.

Keys and channels are named by the run's Celery task id, which is unique per run, so a signal
can never reach a later run of the same feed. The database stays the durable record; Redis is
only the fast path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis
from django.conf import settings

from threat_feeds.choices import HAND_BACK
from threat_feeds.control import redis_clients

log = logging.getLogger(__name__)
SIGNAL_TTL_SECONDS = 24 * 3600


def _key(task_id: str) -> str:
    return f"crisp:run:{task_id}:cancel"


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)


def announce_cancel(task_id: str, mode: str) -> bool:
    """Publish a cancel request; returns False when Redis is unreachable (the DB record still holds)."""
    try:
        pipe = redis_clients.sync_client().pipeline()  # pooled: a cancel must not wait for a connect
        pipe.set(_key(task_id), mode, ex=SIGNAL_TTL_SECONDS)
        pipe.publish(_key(task_id), mode)
        pipe.execute()
        return True
    except redis.RedisError as exc:
        log.warning("cancel signal for %s not announced through Redis: %s", task_id, exc)
        return False


def announce_hand_back(task_id: str) -> bool:
    """Tell a running run to stop at its next checkpoint and go back to the queue. Published
    only, never kept in the key: the run resumes under the same task id and must not hear it again."""
    try:
        redis_clients.sync_client().publish(_key(task_id), HAND_BACK)
        return True
    except redis.RedisError as exc:
        log.warning("hand-back for %s not announced through Redis: %s", task_id, exc)
        return False


class CancelListener(threading.Thread):
    """Waits on the run's channel and calls `on_signal(mode)` the moment a cancel arrives."""

    def __init__(self, task_id: str, on_signal: Callable[[str], None]) -> None:
        super().__init__(name=f"crisp-cancel-{task_id[:8]}", daemon=True)
        self.task_id = task_id
        self.on_signal = on_signal
        self._stop = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                client = redis.Redis.from_url(
                    settings.REDIS_URL, socket_connect_timeout=2, health_check_interval=10
                )
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(_key(self.task_id))
                # A signal sent before we subscribed is still in the key.
                mode = client.get(_key(self.task_id))
                self.ready.set()
                if mode:
                    self.on_signal(mode.decode())
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message and message.get("type") == "message":
                        self.on_signal(message["data"].decode())
                pubsub.close()
                client.close()
            except redis.RedisError as exc:
                # Redis restarting: the monitor's database poll still delivers cancels meanwhile.
                log.warning("cancel listener for %s lost Redis (%s); retrying", self.task_id, exc)
                self.ready.set()
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
