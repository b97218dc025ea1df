"""The page/batch loop: fetch a page, validate it, store it in batches, with a checkpoint at each step.

Knows nothing of Celery or of the run model: what to do after each stored batch (counters,
cursor) is the caller's `on_batch`, run in the batch's own transaction. Storage happens in a
thread of its own, so the task's main thread (the one a cancel signal interrupts) never holds a
database transaction: an interrupted read can never tear a batch.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from threat_feeds.control.checkpoint import RunCheckpoint, RunInterrupted
from threat_feeds.pipeline.upsert import BatchCounts, PreparedBatch, StoreWriter
from threat_feeds.pipeline.validate import PageValidation, validate_page
from threat_feeds.sources.base import Page, Source

log = logging.getLogger(__name__)
MAX_BATCH = 1000
_TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE", "ROLLBACK")  # an interrupted batch must still roll back
# A parsed page is tens of thousands of acyclic dicts and lists, freed by reference counting; at
# the default threshold (700) the cyclic collector ran hundreds of times per page and a fifth of
# the worker's CPU went to it. Cyclic garbage still gets collected, just every 50,000 allocations.
_GC_GEN0_THRESHOLD = 50_000


@dataclass(slots=True)
class BatchReport:
    counts: BatchCounts
    fetched: int
    invalid: list[str] = field(default_factory=list)
    # Set on the last batch of a page: the page is then fully stored and the cursor may move.
    page_cursor: dict[str, Any] | None = None
    page_done: bool = False
    total_expected: int | None = None


class _StoreBehind(threading.Thread):
    """Stores validated pages in a thread of its own while the caller fetches and validates the next.

    Database waits release the GIL, so fetching/validating page N+1 overlaps storing page N. At most
    one page waits in the queue, so memory stays bounded by two pages whatever the feed's size.
    """

    def __init__(self, *, writer: StoreWriter, checkpoint: RunCheckpoint, on_batch: Callable[[BatchReport], None],
                 batch_size: int) -> None:  # fmt: skip
        super().__init__(name="crisp-store", daemon=True)
        self.writer, self.checkpoint, self.on_batch, self.batch_size = (
            writer,
            checkpoint,
            on_batch,
            batch_size,
        )
        self.pages: queue.Queue[tuple[Page, list[str], list[PreparedBatch]] | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self._stopping = threading.Event()
        self._raw_connection: Any = None
        self._in_batch = False

    def run(self) -> None:
        try:
            connection.ensure_connection()
            self._raw_connection = connection.connection
            with connection.execute_wrapper(self._refuse_when_signalled):
                while not self._stopping.is_set():
                    item = self.pages.get()
                    if item is None:
                        return
                    with self.checkpoint.storing():
                        self._store(*item)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, re-raised there
            mode = self.checkpoint.signalled_mode
            if mode is not None and not isinstance(exc, RunInterrupted):
                # The statement in flight was cancelled by `interrupt`: its batch rolled back whole.
                exc = RunInterrupted(mode, "batch_interrupted")
            self.error = exc
        finally:
            connection.close()  # this thread's own connection

    def _store(self, page: Page, invalid: list[str], batches: list[PreparedBatch]) -> None:
        for index, batch in enumerate(batches):
            self.checkpoint("before_batch")
            first, last = index == 0, index == len(batches) - 1
            self._in_batch = True
            with transaction.atomic():
                counts = self.writer.write(batch)
                self.on_batch(
                    BatchReport(
                        counts=counts,
                        fetched=batch.received + (len(invalid) if first else 0),
                        invalid=invalid if first else [],
                        page_cursor=page.cursor if last else None,
                        page_done=last,
                        total_expected=page.total_expected,
                    )
                )
            self._in_batch = False
            self.checkpoint("after_batch")

    def _refuse_when_signalled(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        """A signal that came between two statements of a batch (nothing in flight to cancel)
        stops the batch at its next statement; its transaction then rolls back whole."""
        mode = self.checkpoint.signalled_mode
        if mode is not None and self._in_batch and not sql.lstrip().upper().startswith(_TRANSACTION_CONTROL):
            raise RunInterrupted(mode, "batch_interrupted")
        return execute(sql, params, many, context)

    def interrupt(self) -> None:
        """From the signalling thread: cancel the batch statement in flight, so the run stops now
        instead of after the batch; the batch's transaction then rolls back whole."""
        raw = self._raw_connection
        if raw is None or not self._in_batch:
            return
        try:
            if hasattr(raw, "cancel_safe"):  # psycopg 3: a cancel request on a side connection
                raw.cancel_safe(timeout=2.0)
            elif hasattr(raw, "interrupt"):  # sqlite3
                raw.interrupt()
        except Exception as exc:  # noqa: BLE001 - the batch ended meanwhile and its connection closed
            log.debug("statement in flight not cancelled: %s", exc)

    def submit(self, page: Page, validation: PageValidation) -> None:
        """Queue a validated page, its batches prepared here (in the caller's thread, while the
        store thread writes), so the store thread only ships them to the database."""
        invalid = [f"page problem: {p}" for p in page.problems] + validation.invalid
        valid, size = validation.valid, self.batch_size
        batches = [self.writer.prepare(valid[start : start + size]) for start in range(0, len(valid), size)]
        item = (page, invalid, batches or [self.writer.prepare([])])
        while True:
            self._raise_error()
            try:
                self.pages.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Wait until every submitted page is stored; re-raise what stopped the writer."""
        while self.is_alive():
            try:
                self.pages.put(None, timeout=0.05)
                break
            except queue.Full:
                self._raise_error()
        self.join()
        self._raise_error()

    def abandon(self) -> None:
        """Drop the page not yet started and wait for the batch in progress (it commits or rolls back whole)."""
        self._stopping.set()
        with contextlib.suppress(queue.Empty):
            self.pages.get_nowait()
        with contextlib.suppress(queue.Full):
            self.pages.put_nowait(None)
        self.join()

    def _raise_error(self) -> None:
        if self.error is not None:
            raise self.error


def ingest(
    *,
    source: Source,
    cursor: Mapping[str, Any],
    writer: StoreWriter,
    checkpoint: RunCheckpoint,
    on_batch: Callable[[BatchReport], None],
    batch_size: int = MAX_BATCH,
) -> None:
    """Fetch and validate pages here, store them behind (see _StoreBehind), checkpointing throughout."""
    batch_size = max(1, min(batch_size, MAX_BATCH))
    store = _StoreBehind(writer=writer, checkpoint=checkpoint, on_batch=on_batch, batch_size=batch_size)
    checkpoint.on_signal(store.interrupt)
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], _GC_GEN0_THRESHOLD), *thresholds[1:])
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
    finally:
        gc.set_threshold(*thresholds)
