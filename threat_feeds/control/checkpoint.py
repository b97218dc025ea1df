"""Cancellation checkpoints: the cheap call sources and the pipeline make at every page, batch and wait.

A cancel signal (set from another thread: the Redis listener or the database monitor) flips an
Event, so a checkpoint is one attribute read. A run blocked in a network read never reaches a
checkpoint, so the signal also interrupts the task's main thread with SIGUSR2, the way Celery's
soft time limit does with SIGUSR1; the handler raises only outside `protected()` sections, so a
database transaction is never torn in half: a batch is either committed or rolled back whole.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

INTERRUPT_SIGNAL = signal.SIGUSR2
# Modes a run can be told to stop in, weakest first (see choices.CancelMode and HAND_BACK).
_RANK = {"hand_back": 0, "stop_now": 1, "cancel_job": 2}


class RunInterrupted(BaseException):
    """Raised at a checkpoint when the run has been asked to stop (mode tells how)."""

    def __init__(self, mode: str, where: str = "") -> None:
        super().__init__(f"run interrupted ({mode}) at {where or 'checkpoint'}")
        self.mode = mode
        self.where = where


class RunCheckpoint:
    """Checkpoint handed to sources and the pipeline."""

    def __init__(self, on_stage: Callable[[str], None] | None = None) -> None:
        self._event = threading.Event()
        self._mode: str | None = None
        self._on_stage = on_stage
        self._armed = False
        self._protected = 0
        self._previous_handler: object = None
        self._main_ident: int | None = None
        self.current_stage = ""
        self._storing = 0
        self._stage_lock = threading.Lock()
        self._abort_hooks: list[Callable[[], None]] = []

    # --- the signal side (any thread) --------------------------------------------------
    def signal(self, mode: str) -> None:
        # cancel_job wins over stop_now, which wins over a hand-back: escalated, never downgraded.
        if _RANK.get(mode, 0) >= _RANK.get(self._mode or "", -1):
            self._mode = mode
        self._event.set()
        # The main thread first: the hooks can take a while (cancelling a statement in flight opens a
        # connection to PostgreSQL, ~10 ms), and the main thread stops the run's other work meanwhile.
        if self._armed and not self._protected and self._main_ident is not None:
            signal.pthread_kill(self._main_ident, INTERRUPT_SIGNAL)
        for abort in self._abort_hooks:
            abort()  # e.g. shut down the source's sockets, cancel the batch's statement in flight

    def on_signal(self, abort: Callable[[], None]) -> None:
        """Register a hook run (from the signalling thread) when the run is told to stop."""
        self._abort_hooks.append(abort)

    @property
    def signalled_mode(self) -> str | None:
        return self._mode if self._event.is_set() else None

    # --- interruption of blocking calls (task's main thread only) ----------------------------
    def arm(self) -> bool:
        """Let a signal interrupt blocking calls in this (main) thread; False where impossible."""
        if threading.current_thread() is not threading.main_thread():
            return False
        self._previous_handler = signal.signal(INTERRUPT_SIGNAL, self._handle)
        self._main_ident = threading.get_ident()
        self._armed = True
        return True

    def disarm(self) -> None:
        if self._armed:
            self._armed = False
            # Never back to SIG_DFL (which terminates): a signal already on its way must be harmless.
            previous = self._previous_handler
            keep = previous if callable(previous) or previous == signal.SIG_IGN else signal.SIG_IGN
            signal.signal(INTERRUPT_SIGNAL, keep)  # type: ignore[arg-type]

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._armed and not self._protected and self._event.is_set():
            # Raise once: a second signal must not hit the code that handles the first.
            self.disarm()
            raise RunInterrupted(self._mode or "stop_now", "interrupted_io")

    @contextlib.contextmanager
    def protected(self) -> Iterator[None]:
        """A section of the main thread (a database write) that a signal must not tear."""
        if threading.get_ident() != self._main_ident:
            yield  # other threads are never interrupted by the signal
            return
        self._protected += 1
        try:
            yield
        finally:
            self._protected -= 1

    # --- the source side -------------------------------------------------------------
    def __call__(self, where: str) -> None:
        if self._event.is_set():
            raise RunInterrupted(self._mode or "stop_now", where)

    def wait(self, seconds: float, *, reason: str) -> None:
        self(f"wait:{reason}")
        previous = self.current_stage
        self.stage("waiting")
        self._event.wait(max(0.0, seconds))
        self(f"wait:{reason}")
        self.stage(previous)

    # --- stages -------------------------------------------------------------------------
    # The fetching side (sources) and the storing side (the store thread) work at the same time;
    # the run shows one stage: waiting beats storing, which beats what the fetching side does.
    def stage(self, name: str) -> None:
        """The fetching side's stage (connecting, fetching, waiting)."""
        self.current_stage = name
        self._publish_stage()

    @contextlib.contextmanager
    def storing(self) -> Iterator[None]:
        """The storing side is busy for the duration of the block (blocks of several store
        threads may overlap: the stage shows storing while any of them is busy)."""
        with self._stage_lock:
            self._storing += 1
        self._publish_stage()
        try:
            yield
        finally:
            with self._stage_lock:
                self._storing -= 1
            self._publish_stage()

    def _publish_stage(self) -> None:
        if self._on_stage is None:
            return
        shown = self.current_stage
        if self._storing and shown != "waiting":
            shown = "storing"
        if not shown:
            return
        with self._stage_lock, self.protected():
            self._on_stage(shown)
