"""The page/batch loop: fetch a page, validate it, store it in batches, with a checkpoint at each step.

Knows nothing of Celery or of the run model: what to do after each stored batch (counters,
cursor) is the caller's `on_batch`, run in the batch's own transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from threat_feeds.control.checkpoint import RunCheckpoint
from threat_feeds.pipeline.upsert import BatchCounts, StoreWriter
from threat_feeds.pipeline.validate import validate_page
from threat_feeds.sources.base import Source

MAX_BATCH = 1000


@dataclass(slots=True)
class BatchReport:
    counts: BatchCounts
    fetched: int
    invalid: list[str] = field(default_factory=list)
    # Set on the last batch of a page: the page is then fully stored and the cursor may move.
    page_cursor: dict[str, Any] | None = None
    page_done: bool = False
    total_expected: int | None = None


def ingest(
    *,
    source: Source,
    cursor: Mapping[str, Any],
    writer: StoreWriter,
    checkpoint: RunCheckpoint,
    on_batch: Callable[[BatchReport], None],
    batch_size: int = MAX_BATCH,
) -> None:
    batch_size = max(1, min(batch_size, MAX_BATCH))
    checkpoint.stage("connecting")
    for page in source.pages(cursor):
        checkpoint("page_received")
        checkpoint.stage("storing")
        validation = validate_page(page.objects)
        invalid = [f"page problem: {p}" for p in page.problems] + validation.invalid
        valid = validation.valid
        starts = list(range(0, len(valid), batch_size)) or [0]
        for index, start in enumerate(starts):
            checkpoint("before_batch")
            batch = valid[start : start + batch_size]
            first, last = index == 0, index == len(starts) - 1
            with checkpoint.protected(), transaction.atomic():
                counts = writer.write(batch)
                on_batch(
                    BatchReport(
                        counts=counts,
                        fetched=len(batch) + (len(invalid) if first else 0),
                        invalid=invalid if first else [],
                        page_cursor=page.cursor if last else None,
                        page_done=last,
                        total_expected=page.total_expected,
                    )
                )
            checkpoint("after_batch")
        checkpoint.stage("fetching")
