"""Cancellation checkpoints: the cheap call sources and the pipeline make at every page, batch and wait."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RunInterrupted(Exception):  # noqa: N818 - it is a control-flow signal, not an error
    """Raised at a checkpoint when the run has been asked to stop (mode tells how)."""

    def __init__(self, mode: str, where: str = "") -> None:
        super().__init__(f"run interrupted ({mode}) at {where or 'checkpoint'}")
        self.mode = mode
        self.where = where


class RunCheckpoint:
    """Checkpoint handed to sources and the pipeline.

    A signal (set from another thread, e.g. a Redis pub/sub listener) flips an Event; a checkpoint
    is then one attribute read, so checking before every page and batch costs nothing measurable.
    """

    def __init__(self, on_stage: Callable[[str], None] | None = None) -> None:
        self._event = threading.Event()
        self._mode: str | None = None
        self._on_stage = on_stage
        self.reached = 0
        self.last_where = ""

    # --- the signal side -------------------------------------------------------------
    def signal(self, mode: str) -> None:
        # cancel_job wins over stop_now: a stop may be escalated, never downgraded.
        if self._mode != "cancel_job":
            self._mode = mode
        self._event.set()

    @property
    def signalled_mode(self) -> str | None:
        return self._mode

    # --- the source side -------------------------------------------------------------
    def __call__(self, where: str) -> None:
        self.reached += 1
        self.last_where = where
        if self._event.is_set():
            raise RunInterrupted(self._mode or "stop_now", where)

    def wait(self, seconds: float, *, reason: str) -> None:
        self(f"wait:{reason}")
        deadline = time.monotonic() + max(0.0, seconds)
        while (left := deadline - time.monotonic()) > 0:
            if self._event.wait(left):
                break
        self(f"wait:{reason}")

    def stage(self, name: str) -> None:
        if self._on_stage is not None:
            self._on_stage(name)
