"""A run's companion thread: heartbeats, and the database poll that backs up the Redis signals
(cancels, and the hand-back asked by a worker shutting down)."""

from __future__ import annotations

import logging
import threading

from django.db import connection
from django.utils import timezone

from threat_feeds.choices import HAND_BACK, RunStatus
from threat_feeds.control.checkpoint import RunCheckpoint

log = logging.getLogger(__name__)
CANCEL_STATUS_MODE = {RunStatus.STOPPING: "stop_now", RunStatus.CANCELLING: "cancel_job"}


class RunMonitor(threading.Thread):
    def __init__(self, run_id: int, checkpoint: RunCheckpoint, *, interval: float = 2.0) -> None:
        super().__init__(name=f"crisp-monitor-{run_id}", daemon=True)
        self.run_id = run_id
        self.checkpoint = checkpoint
        self.interval = interval
        self._stop = threading.Event()

    def beat(self) -> None:
        from threat_feeds.control.progress import publish_run
        from threat_feeds.models import FeedRun

        FeedRun.objects.filter(pk=self.run_id).update(heartbeat_at=timezone.now())
        publish_run(self.run_id)  # the live snapshot's heartbeat (and rate) stay fresh between batches
        row = FeedRun.objects.filter(pk=self.run_id).values_list("status", "hand_back_requested_at").first()
        if row is None:
            return
        status, hand_back = row
        mode = CANCEL_STATUS_MODE.get(status) or (HAND_BACK if hand_back else None)
        if mode:
            self.checkpoint.signal(mode)

    def run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    self.beat()
                except Exception as exc:  # noqa: BLE001 - a lost DB connection must not kill the monitor
                    log.warning("heartbeat of run %s failed: %s", self.run_id, exc)
                    connection.close()
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop.set()
