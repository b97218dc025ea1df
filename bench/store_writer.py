"""The store writer alone: `StoreWriter.write` in batches of 1,000 demo objects, fresh then all
unchanged, with the time of each statement (no worker, no HTTP, no validation in the timing).

    python -m bench.store_writer [--objects 20000]
"""

from __future__ import annotations

import argparse
import collections
import time
from typing import Any

from bench import common


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=20_000)
    ns = parser.parse_args(argv)
    common.setup_django()
    from django.db import connection, transaction

    from threat_feeds.demo.generator import DemoCollection
    from threat_feeds.models import FeedRun, ThreatFeed
    from threat_feeds.pipeline.upsert import StoreWriter
    from threat_feeds.pipeline.validate import validate_page

    common.flush_store()
    size = ns.objects
    valid = validate_page(list(DemoCollection(size).iter_objects(0, size))).valid
    feed = ThreatFeed.objects.create(name="store-writer bench", source_type="taxii21")
    times: collections.Counter[str] = collections.Counter()

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            times[" ".join(sql.split())[:70]] += time.perf_counter() - started

    for label in ("fresh", "again (unchanged)"):
        FeedRun.objects.filter(feed=feed, status="running").update(status="completed")
        run = FeedRun.objects.create(feed=feed, status="running")
        writer = StoreWriter(run_id=run.pk, feed_id=feed.pk)
        times.clear()
        started = time.perf_counter()
        with connection.execute_wrapper(timed):
            for start in range(0, size, 1000):
                with transaction.atomic():
                    writer.write(valid[start : start + 1000])
        total = time.perf_counter() - started
        print(
            f"{label}: {size / total:,.0f} objects/s, {total:.2f} s; statements {sum(times.values()):.2f} s"
        )
        for sql, seconds in times.most_common(8):
            print(f"  {seconds:6.2f} s  {sql}")


if __name__ == "__main__":
    main()
