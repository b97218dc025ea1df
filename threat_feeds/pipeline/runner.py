"""The page/batch loop: fetch a page, validate it, store it in batches, with a checkpoint at each step.

Knows nothing of Celery or of the run model: what to do after each stored batch (counters,
cursor) is the caller's `on_batch`, run in the batch's own transaction. Storage happens in a
thread of its own, so the task's main thread (the one a cancel signal interrupts) never holds a
database transaction: an interrupted read can never tear a batch.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from threat_feeds.choices import HAND_BACK, CancelMode
from threat_feeds.control.checkpoint import RunCheckpoint, RunInterrupted
from threat_feeds.pipeline.upsert import BatchCounts, PreparedBatch, StoreWriter
from threat_feeds.pipeline.validate import PageValidation, validate_page
from threat_feeds.sources.base import Page, Source

log = logging.getLogger(__name__)
MAX_BATCH = 1000
# How long a merged batch waits for an earlier one still merging before it commits anyway (the
# earlier one may be waiting for a row this one holds: then the wait is pure loss).
_COMMIT_TURN_SECONDS = 0.1
# Batches queued at most this many per lane ahead of the last one committed in order.
_MAX_AHEAD = 4
_TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE", "ROLLBACK")  # an interrupted batch must still roll back
_GC_GEN0_THRESHOLD = 50_000  # see fewer_collections


@dataclass(slots=True)
class BatchReport:
    counts: BatchCounts
    fetched: int
    invalid: list[str] = field(default_factory=list)
    # Pages now fully stored (their batches and every earlier batch committed), and the newest of
    # their cursors: the run may count them and move its cursor there.
    pages: int = 0
    page_cursor: dict[str, Any] | None = None
    total_expected: int | None = None


@dataclass(slots=True)
class _Batch:
    seq: int  # position in the feed, from 0: the cursor moves past a page only in this order
    prepared: PreparedBatch
    fetched: int
    invalid: list[str]
    total_expected: int | None


@dataclass(slots=True)
class _Lane:
    """One store thread and its own database connection."""

    raw_connection: Any = None
    backend: tuple[int, Any] | None = None  # PostgreSQL: its backend's pid and start time
    in_batch: bool = False
    seq: int = -1  # the batch in progress
    merged: bool = False  # its merge is done: it only has its counters and commit left


class _StoreBehind:
    """Stores validated batches in store threads of their own ("lanes") while the caller fetches
    and validates the next page.

    Database waits release the GIL, so fetching page N+1 overlaps storing page N; with several
    lanes (each with its own connection, one transaction per batch) PostgreSQL also merges several
    batches at once, on as many cores. Batches take their row locks in the store's one order (run ->
    objects -> indicators), so lanes may wait for each other but never deadlock.

    Batches may commit out of order. What stays in order:
    - a page counts as stored, and the cursor moves past it, once it and every batch before it
      committed: the page-end batch records that in its own transaction when it can, otherwise
      the lane whose commit completes the prefix does, right after, in a transaction of its own;
    - a stopped run keeps a prefix of the feed: after a signal, only a batch that fills a gap
      below a committed one may go on (and commit); every other batch in flight is cancelled or
      refused at its next statement. So `fetched` of a stopped run is exactly what it kept.
    `_lock` orders those decisions with the commits. Each lane takes it after its merge, holding
    only row locks no lock holder waits for, and keeps it through its commit: always Python lock ->
    run row, never the other way round.

    The queue holds at most one batch per lane, so memory stays flat whatever the feed's size.
    """

    def __init__(self, *, writer: StoreWriter, checkpoint: RunCheckpoint, on_batch: Callable[[BatchReport], None],
                 batch_size: int, lanes: int) -> None:  # fmt: skip
        self.writer, self.checkpoint, self.on_batch, self.batch_size = (
            writer,
            checkpoint,
            on_batch,
            batch_size,
        )
        self.batches: queue.Queue[_Batch | None] = queue.Queue(maxsize=lanes)
        self.error: BaseException | None = None
        self._stopping = threading.Event()
        self._lanes = [_Lane() for _ in range(lanes)]
        self._threads = [
            threading.Thread(target=self._run, args=(lane,), name=f"crisp-store-{i}", daemon=True)
            for i, lane in enumerate(self._lanes)
        ]
        self._canceller = _StatementCanceller()
        self._live = lanes  # lanes not yet exited; the last one closes the canceller
        self._next_seq = 0
        # Under _lock (reentrant: a lane's statements check it while the lane holds it): page-end
        # seq -> the page's cursor; committed seqs above the prefix; the prefix (every seq up to it
        # committed); the greatest committed seq; the last page end whose count and cursor are recorded.
        self._lock = threading.RLock()
        self._page_ends: dict[int, dict[str, Any] | None] = {}
        self._committed: set[int] = set()
        self._prefix = -1
        self._max_committed = -1
        self._recorded = -1
        self._progress = threading.Condition(self._lock)  # notified at every commit
        # Main thread only: stix_id -> the last batch queued with it, for batches not yet committed.
        self._queued_ids: dict[str, int] = {}

    def start(self) -> None:
        self._canceller.open()
        for thread in self._threads:
            thread.start()

    def _run(self, lane: _Lane) -> None:
        try:
            connection.ensure_connection()
            lane.raw_connection = connection.connection
            lane.backend = _StatementCanceller.backend_of(connection)
            with connection.execute_wrapper(functools.partial(self._refuse_when_signalled, lane)):
                self._drain(lane)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, re-raised there
            mode = self.checkpoint.signalled_mode
            if mode is not None and _is_cancellation(exc):
                # The statement in flight was cancelled by `interrupt`: its batch rolled back whole.
                # Anything else stays an error: a batch that had to fill a gap and failed leaves one.
                exc = RunInterrupted(mode, "batch_interrupted")
            with self._lock:
                self.error = self.error or exc
            self._stopping.set()
        finally:
            connection.close()  # this thread's own connection
            with self._progress:
                self._live -= 1
                last = self._live == 0
                self._progress.notify_all()
            if last:
                self._canceller.close()

    def _drain(self, lane: _Lane) -> None:
        """Store batches until the end; the stage shows storing while this lane has work queued."""
        with contextlib.ExitStack() as shown:
            storing = False
            while not self._stopping.is_set():
                try:
                    item = self.batches.get_nowait()
                except queue.Empty:
                    shown.close()
                    storing = False
                    item = self.batches.get()
                if item is None:
                    return
                if not storing:
                    shown.enter_context(self.checkpoint.storing())
                    storing = True
                self._store(lane, item)

    def _store(self, lane: _Lane, batch: _Batch) -> None:
        locked, carried = False, None
        with self._lock:
            lane.seq, lane.in_batch = batch.seq, True
        try:
            # The before-batch checkpoint; a batch below a committed one still goes (it fills the gap).
            mode = self.checkpoint.signalled_mode
            if mode is not None:
                with self._lock:
                    if not self._fills_gap(lane):
                        raise RunInterrupted(mode, "before_batch")
            with transaction.atomic():
                report = BatchReport(
                    counts=self.writer.write(batch.prepared),
                    fetched=batch.fetched,
                    invalid=batch.invalid,
                    total_expected=batch.total_expected,
                )
                self._lock.acquire()
                locked = True
                self._commit_in_turn(lane)
                mode = self.checkpoint.signalled_mode
                if mode is not None and not self._fills_gap(lane):
                    raise RunInterrupted(mode, "batch_interrupted")
                if batch.seq in self._page_ends and self._prefix == batch.seq - 1:
                    carried = self._unrecorded(batch.seq)
                if carried is not None:
                    report.pages, report.page_cursor = carried[0], carried[1]
                if batch.seq < self._max_committed:  # a later page already told a newer total
                    report.total_expected = None
                self.on_batch(report)
            self._committed.add(batch.seq)
            self._max_committed = max(self._max_committed, batch.seq)
            while self._prefix + 1 in self._committed:
                self._prefix += 1
                self._committed.discard(self._prefix)
            self._progress.notify_all()
            if carried is not None:
                self._forget_recorded(carried[2])
        finally:
            with self._progress:
                lane.in_batch = lane.merged = False
                self._progress.notify_all()
            if locked:
                self._lock.release()
        self._record_pages()
        self.checkpoint("after_batch")

    def _commit_in_turn(self, lane: _Lane) -> None:
        """Under _lock: wait (a while at most) until no earlier batch is still merging, so batches
        mostly commit in feed order and a stop seldom has a gap to fill (which it must wait for).
        Bounded, never a hard order: the earlier batch may be waiting for another run's batch that
        waits for a row this one holds, a cycle PostgreSQL cannot see."""
        lane.merged = True
        self._progress.notify_all()
        deadline = time.monotonic() + _COMMIT_TURN_SECONDS
        while self.checkpoint.signalled_mode is None and any(
            other.in_batch and not other.merged and other.seq < lane.seq for other in self._lanes
        ):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._progress.wait(left)

    def _fills_gap(self, lane: _Lane) -> bool:
        """Under _lock: a batch below a committed one, which after a stop (not a cancel_job, which
        undoes the run whole anyway) may still commit."""
        return lane.seq < self._max_committed and self.checkpoint.signalled_mode != CancelMode.CANCEL_JOB

    def _unrecorded(self, upto: int) -> tuple[int, dict[str, Any] | None, int] | None:
        """Under _lock: the page ends after the last recorded one, up to `upto`: how many, the
        newest cursor among them, the last one."""
        ends = sorted(seq for seq in self._page_ends if self._recorded < seq <= upto)
        if not ends:
            return None
        cursors = [self._page_ends[seq] for seq in ends if self._page_ends[seq] is not None]
        return len(ends), (cursors[-1] if cursors else None), ends[-1]

    def _forget_recorded(self, last: int) -> None:
        self._recorded = last
        for seq in [seq for seq in self._page_ends if seq <= last]:
            del self._page_ends[seq]

    def _record_pages(self) -> None:
        """Record the pages a commit completed whose page-end batch could not (it committed before
        an earlier batch did). Runs after a signal too: a stopped run's cursor covers what it kept."""
        with self._lock:
            pending = self._unrecorded(self._prefix)
            if pending is None:
                return
            with transaction.atomic():
                self.on_batch(
                    BatchReport(counts=BatchCounts(), fetched=0, pages=pending[0], page_cursor=pending[1])
                )
            self._forget_recorded(pending[2])

    def _refuse_when_signalled(
        self, lane: _Lane, execute: Any, sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        """A signal that came between two statements of a batch (nothing in flight to cancel)
        stops the batch at its next statement (its transaction then rolls back whole), unless the
        batch fills a gap below a committed one."""
        mode = self.checkpoint.signalled_mode
        if mode is not None and lane.in_batch and not sql.lstrip().upper().startswith(_TRANSACTION_CONTROL):
            with self._lock:
                refuse = not self._fills_gap(lane)
            if refuse:
                raise RunInterrupted(mode, "batch_interrupted")
        return execute(sql, params, many, context)

    def interrupt(self) -> None:
        """From the signalling thread: cancel the batch statements in flight, so the run stops now
        instead of after its batches (their transactions roll back whole); a batch that fills a gap
        below a committed one is left to finish, so the run keeps a prefix of the feed."""
        with self._progress:
            targets = [lane for lane in self._lanes
                       if lane.raw_connection is not None and lane.in_batch and not self._fills_gap(lane)]  # fmt: skip
            self._progress.notify_all()  # a lane waiting for its turn to commit: there is none now
        self._canceller.cancel(targets)

    def submit(self, page: Page, validation: PageValidation) -> None:
        """Queue a validated page batch by batch, each prepared here (in the caller's thread, while
        the lanes write), so a lane only ships it to the database."""
        invalid = [f"page problem: {p}" for p in page.problems] + validation.invalid
        valid, size = validation.valid, self.batch_size
        chunks = [valid[start : start + size] for start in range(0, len(valid), size)] or [[]]
        for index, chunk in enumerate(chunks):
            prepared = self.writer.prepare(chunk)
            seq, self._next_seq = self._next_seq, self._next_seq + 1
            if len(self._lanes) > 1:
                self._after_batches_sharing(prepared.ids, seq)
            if index == len(chunks) - 1:
                with self._lock:
                    self._page_ends[seq] = page.cursor
            first = index == 0
            self._put(_Batch(seq=seq, prepared=prepared, fetched=prepared.received + (len(invalid) if first else 0),
                             invalid=invalid if first else [], total_expected=page.total_expected))  # fmt: skip

    def _after_batches_sharing(self, ids: Sequence[str], seq: int) -> None:
        """Hold a batch until every earlier batch with one of its objects has committed: a run
        stores the versions of one object in feed order (the rank of undated versions, and which
        form of a repeated version is kept, depend on it). Waits before the batch takes any lock."""
        with self._lock:
            prefix = self._prefix
        if len(self._queued_ids) > 8 * MAX_BATCH:  # keep only ids of batches not yet committed
            self._queued_ids = {
                k: v for k, v in self._queued_ids.items() if v > prefix and v not in self._committed
            }
        earlier = {self._queued_ids[stix_id] for stix_id in ids if stix_id in self._queued_ids}
        for stix_id in ids:
            self._queued_ids[stix_id] = seq
        with self._progress:  # every one of them: lanes commit out of order
            while any(e > self._prefix and e not in self._committed for e in earlier):
                self._raise_error()
                self._progress.wait(0.05)

    def _put(self, item: _Batch | None) -> None:
        while True:
            self._raise_error()
            # A lane stuck behind another run's locks must not let the others run ahead without
            # bound: what waits above the prefix (committed seqs, page ends, ids) stays small.
            if item is not None and item.seq - self._prefix > _MAX_AHEAD * len(self._lanes):
                with self._progress:
                    self._progress.wait(0.05)
                continue
            try:
                self.batches.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Wait until every submitted batch is stored; re-raise what stopped a lane."""
        for _ in self._threads:
            self._put(None)
        for thread in self._threads:
            thread.join()
        self._raise_error()

    def abandon(self) -> None:
        """Drop the batches not yet started and wait for those in progress (each commits or rolls
        back whole).

        After a stop that keeps what was stored (stop_now, hand-back) only what may still commit is
        waited for: the batches filling a gap below a committed one, and the recording of the pages
        they complete. Every other batch in flight was refused or cancelled: it rolls back and its
        lane exits on its own, never touching the run row again, so the run can end meanwhile."""
        self._stopping.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self.batches.get_nowait()
        for _ in self._threads:
            with contextlib.suppress(queue.Full):
                self.batches.put_nowait(None)
        if self.checkpoint.signalled_mode in (CancelMode.STOP_NOW, HAND_BACK):
            # Under the lock: a lane that passed its decision before the signal has committed.
            with self._progress:
                while self._prefix < self._max_committed and self.error is None and self._live:
                    self._progress.wait(0.05)
            self._record_pages()
            return
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def _raise_error(self) -> None:
        if self.error is not None:
            raise self.error


def _is_cancellation(exc: BaseException) -> bool:
    """A RunInterrupted, or a statement cancelled on request (psycopg QueryCanceled; sqlite3's
    "interrupted"), possibly wrapped by Django."""
    seen: BaseException | None = exc
    chain: set[int] = set()
    while seen is not None and id(seen) not in chain:
        chain.add(id(seen))
        if isinstance(seen, RunInterrupted) or type(seen).__name__ == "QueryCanceled":
            return True
        if isinstance(seen, sqlite3.OperationalError) and "interrupted" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class _StatementCanceller:
    """Cancels the lanes' statements in flight. On PostgreSQL through a connection opened with the
    run (pg_cancel_backend, one round trip: 0.5 ms idle) rather than a cancel request per statement,
    which opens a connection each (3 ms idle, 5-27 ms during an ingest). A lane's backend is named
    by pid and start time, so a pid reused by another session is never hit."""

    _CANCEL = (
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
        " WHERE (pid, backend_start) IN (SELECT * FROM unnest(%s::int[], %s::timestamptz[]))"
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._control: Any = None

    @staticmethod
    def backend_of(conn: Any) -> tuple[int, Any] | None:
        if conn.vendor != "postgresql":
            return None
        with conn.cursor() as cursor:
            cursor.execute("SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()")
            return cursor.fetchone()

    def open(self) -> None:
        if connection.vendor == "postgresql" and getattr(connection, "pool", None) is None:
            try:
                raw = connection.get_new_connection(connection.get_connection_params())
                raw.autocommit = True
                self._control = raw
            except Exception as exc:  # noqa: BLE001 - cancels then go one request each
                log.warning("no connection to cancel statements through: %s", exc)

    def cancel(self, lanes: Sequence[_Lane]) -> None:
        if not lanes:
            return
        with self._lock:
            backends = [lane.backend for lane in lanes if lane.backend is not None]
            if self._control is not None and len(backends) == len(lanes):
                try:
                    self._control.execute(
                        self._CANCEL, ([pid for pid, _ in backends], [at for _, at in backends])
                    )
                    return
                except Exception as exc:  # noqa: BLE001 - e.g. the server closed it: one request each
                    log.warning("statement cancel through the run's connection failed: %s", exc)
                    self._close()
        # Each cancel request opens a connection of its own: send them side by side.
        helpers = [threading.Thread(target=_cancel_statement, args=(lane.raw_connection,), daemon=True)
                   for lane in lanes[1:]]  # fmt: skip
        for helper in helpers:
            helper.start()
        _cancel_statement(lanes[0].raw_connection)
        for helper in helpers:
            helper.join()

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._control is not None:
            with contextlib.suppress(Exception):
                self._control.close()
            self._control = None


def _cancel_statement(raw: Any) -> None:
    try:
        if hasattr(raw, "cancel_safe"):  # psycopg 3: a cancel request on a side connection
            raw.cancel_safe(timeout=2.0)
        elif hasattr(raw, "interrupt"):  # sqlite3
            raw.interrupt()
    except Exception as exc:  # noqa: BLE001 - the batch ended meanwhile and its connection closed
        log.debug("statement in flight not cancelled: %s", exc)


@contextlib.contextmanager
def fewer_collections(checkpoint: RunCheckpoint) -> Iterator[None]:
    """Tune Python's cyclic collector for a run, from its start to its terminal state.

    A parsed page is tens of thousands of acyclic dicts and lists, freed by reference counting; at
    the default threshold (700) the collector ran hundreds of times per page and took a fifth of
    the worker's CPU. Cyclic garbage still gets collected, every 50,000 allocations. Once the run
    is told to stop there is no collection until it is terminal: restoring the threshold there
    started one over what the ingest left, 60-85 ms between a cancel and its end (docs/BENCHMARKS.md).
    """
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(max(thresholds[0], _GC_GEN0_THRESHOLD), *thresholds[1:])
    checkpoint.on_signal(gc.disable)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if enabled:
            gc.enable()


def ingest(
    *,
    source: Source,
    cursor: Mapping[str, Any],
    writer: StoreWriter,
    checkpoint: RunCheckpoint,
    on_batch: Callable[[BatchReport], None],
    batch_size: int = MAX_BATCH,
    lanes: int | None = None,
) -> None:
    """Fetch and validate pages here, store them behind (see _StoreBehind), checkpointing throughout.

    `lanes` store threads (default: settings.CRISP_STORE_LANES on PostgreSQL; 1 on SQLite, which
    has one writer at a time anyway)."""
    batch_size = max(1, min(batch_size, MAX_BATCH))
    if lanes is None:
        lanes = settings.CRISP_STORE_LANES if writer.vendor == "postgresql" else 1
    store = _StoreBehind(writer=writer, checkpoint=checkpoint, on_batch=on_batch, batch_size=batch_size,
                         lanes=max(1, lanes))  # fmt: skip
    checkpoint.on_signal(store.interrupt)
    store.start()
    try:
        checkpoint.stage("connecting")
        for page in source.pages(cursor):
            checkpoint("page_received")
            store.submit(page, validate_page(page.objects))
        store.finish()
    except BaseException:
        store.abandon()
        raise
