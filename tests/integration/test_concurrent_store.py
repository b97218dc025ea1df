"""Overlapping runs, cancels and stops against a real worker, checked object by object against a
model of the store computed in plain Python (SPEC §5 Concurrency; issue 9).

The model: a cancelled run delivered nothing; any other run delivered the entries of its
collection from where its cursor started (just before the stored instant, see
sources/taxii21.py `_just_before`) for `run.fetched` entries. The store must then hold, per
object, the delivered version with the newest `modified`; every delivered version once; a link
per run and version; and exactly the indicators those versions' patterns carry.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from contextlib import ExitStack
from typing import Any

import pytest
from django.db import connection

from tests.integration.helpers import demo_server, run_reached, wait_until
from threat_feeds.choices import RunStatus
from threat_feeds.control.cancellation import feed_run_cancel
from threat_feeds.demo.generator import DemoCollection, parse_ts_us
from threat_feeds.errors import StateConflict
from threat_feeds.models import (
    FeedRun,
    Indicator,
    ObjectProvenance,
    StixObject,
    StixObjectVersion,
    ThreatFeed,
)
from threat_feeds.pipeline.validate import validate_page
from threat_feeds.services.runs import feed_run_start
from threat_feeds.sources.taxii21 import _just_before

pytestmark = pytest.mark.django_db(transaction=True)


def _delivered(collection: DemoCollection, run: FeedRun) -> list[dict[str, Any]]:
    if run.status == RunStatus.CANCELLED:
        return []
    start = 0
    if (run.cursor_before or {}).get("added_after"):
        start = DemoCollection.position_after(parse_ts_us(_just_before(run.cursor_before["added_after"])))
    return list(collection.iter_objects(start, start + run.fetched))


def _check_store(deliveries: Iterable[tuple[FeedRun, list[dict[str, Any]]]]) -> None:
    """The store equals the model built from what each run delivered, object by object."""
    newest: dict[str, dict[str, Any]] = {}
    versions: set[tuple[str, str]] = set()
    links: set[tuple[int, str, str]] = set()
    indicators: set[tuple[str, str]] = set()
    for run, objects in deliveries:
        for obj in objects:
            versions.add((obj["id"], obj["modified"]))
            links.add((run.pk, obj["id"], obj["modified"]))
            seen = newest.get(obj["id"])
            if seen is None or obj["modified"] > seen["modified"]:
                newest[obj["id"]] = obj
        for valid in validate_page(objects).valid:
            indicators.update((kind, value) for kind, value, _ in valid.indicators)

    stored = dict(StixObject.objects.values_list("stix_id", "data"))
    assert stored.keys() == newest.keys()
    wrong = [stix_id for stix_id, obj in newest.items() if stored[stix_id] != obj]
    assert not wrong, f"{len(wrong)} objects not at the newest delivered version, e.g. {wrong[:3]}"
    current_keys = dict(StixObject.objects.values_list("stix_id", "version_key"))
    stored_versions = set(StixObjectVersion.objects.values_list("stix_object__stix_id", "data__modified"))
    assert stored_versions == versions
    for stix_id, key in StixObjectVersion.objects.values_list("stix_object__stix_id", "version_key"):
        assert stix_id in current_keys  # no version outlives its object
    assert {k for k in current_keys.values()} <= {
        k for k in StixObjectVersion.objects.values_list("version_key", flat=True)
    }
    stored_links = set(
        ObjectProvenance.objects.values_list("run_id", "stix_object__stix_id", "version__data__modified")
    )
    assert stored_links == links
    assert set(Indicator.objects.values_list("kind", "value")) == indicators


def _cancel(run: FeedRun, mode: str) -> bool:
    """Cancel `run`; False if it finished first."""
    try:
        feed_run_cancel(run_id=run.pk, user=None, mode=mode, reason="test")
    except StateConflict:
        return False
    return True


@pytest.mark.parametrize("victim", ["newer", "older"])
def test_cancel_job_of_one_of_two_overlapping_runs_leaves_exactly_the_other(
    celery_worker: Any, wait_for_run: Any, victim: str
) -> None:
    """Two feeds deliver the same 2,000 objects at once; one also carries newer versions of one in
    ten. The victim stalls mid-way and is cancelled while the other keeps ingesting the same
    objects: the store ends as if only the other had run."""
    size = 2000
    older = DemoCollection(size)
    newer = DemoCollection(size, version=2)
    # The victim runs fast, then stalls (after its re-issues when it is the newer edition); the
    # survivor is paced so that it is still storing the same objects during the rollback.
    victim_options = {"page_max": 100, "delay": 0.01, "stall_after_pages": 21 if victim == "newer" else 12}
    survivor_options = {"page_max": 100, "delay": 0.25}
    with ExitStack() as stack:
        servers = {
            "older": stack.enter_context(
                demo_server(objects=size, **(victim_options if victim == "older" else survivor_options))
            ),
            "newer": stack.enter_context(
                demo_server(
                    objects=size, version=2, **(victim_options if victim == "newer" else survivor_options)
                )
            ),
        }
        feeds = {
            name: ThreatFeed.objects.create(
                name=name,
                source_type="taxii21",
                url=s.api_root_url,
                collection_id=s.collection_id,
                page_size=100,
            )
            for name, s in servers.items()
        }
        runs = {name: feed_run_start(feed=feed, user=None) for name, feed in feeds.items()}
        survivor = "older" if victim == "newer" else "newer"
        wait_until(lambda: run_reached(runs[survivor].pk, pages=1))
        wait_until(lambda: run_reached(runs[victim].pk, pages=victim_options["stall_after_pages"]))
        survivor_then = FeedRun.objects.get(pk=runs[survivor].pk)
        assert survivor_then.status == RunStatus.RUNNING, (survivor_then.status, survivor_then.error_message)
        # Counters are honest while both ingest: each stored object was created by exactly one run
        # (one statement, one snapshot: counters commit with their batch).
        created, stored = _created_and_stored([run.pk for run in runs.values()])
        assert created == stored > 0
        assert _cancel(runs[victim], "cancel_job")
        cancelled = wait_for_run(runs[victim].pk, timeout=30)
        kept = wait_for_run(runs[survivor].pk, timeout=120)

    assert cancelled.status == RunStatus.CANCELLED and kept.status == RunStatus.COMPLETED
    # Only the newer edition's re-issues moved objects forward, each exactly once.
    newer_run = cancelled if victim == "newer" else kept
    older_run = kept if victim == "newer" else cancelled
    assert newer_run.updated == max(0, newer_run.fetched - size) > 0
    assert older_run.updated == 0
    collections = {"older": older, "newer": newer}
    _check_store([(kept, _delivered(collections[survivor], kept))])


def test_random_runs_stops_and_cancels_over_overlapping_feeds_match_the_model(
    celery_worker: Any, wait_for_run: Any
) -> None:
    """A seeded sequence of rounds; in each, two feeds run at once and each run is left to complete,
    stopped (stop_now) or cancelled (cancel_job) after a random number of pages. Feeds overlap:
    editions 1-3 of one collection, and a larger edition 1 sharing its first objects."""
    rng = random.Random(20261201)
    shapes = {
        "e1": DemoCollection(300),
        "e2": DemoCollection(300, version=2),
        "e3": DemoCollection(300, version=3),
        "big": DemoCollection(500),
    }
    with ExitStack() as stack:
        feeds: dict[str, ThreatFeed] = {}
        for name, shape in shapes.items():
            server = stack.enter_context(
                demo_server(objects=shape.objects, version=shape.version, page_max=20, delay=0.03)
            )
            feeds[name] = ThreatFeed.objects.create(
                name=name,
                source_type="taxii21",
                url=server.api_root_url,
                collection_id=server.collection_id,
                page_size=20,
            )
        finished: list[FeedRun] = []
        for _round in range(8):
            pair = rng.sample(sorted(feeds), 2)
            plans = [
                (name, rng.choice(["complete", "stop_now", "cancel_job"]), rng.randint(1, 17))
                for name in pair
            ]
            started = [
                (feed_run_start(feed=ThreatFeed.objects.get(pk=feeds[name].pk), user=None), action, pages)
                for name, action, pages in plans
            ]
            for run, action, pages in started:
                if action == "complete":
                    continue
                wait_until(lambda run=run, pages=pages: _reached_or_done(run.pk, pages))
                _cancel(run, action)
            finished += [wait_for_run(run.pk, timeout=120) for run, _, _ in started]
            for run in finished[-2:]:
                assert run.status in (RunStatus.COMPLETED, RunStatus.STOPPED, RunStatus.CANCELLED), (
                    run.status,
                    run.error_message,
                )
            # After every round the store is the model of every run so far.
            _check_store((run, _delivered(shapes[run.feed.name], run)) for run in finished)
            for run in finished[-2:]:
                if run.status == RunStatus.CANCELLED:
                    feed = ThreatFeed.objects.get(pk=run.feed_id)
                    assert run.objects_removed >= 0 and feed.cursor == (run.cursor_before or {})
    statuses = {run.status for run in finished}
    assert statuses >= {RunStatus.COMPLETED, RunStatus.STOPPED, RunStatus.CANCELLED}, statuses


def _reached_or_done(run_id: int, pages: int) -> bool:
    run = FeedRun.objects.get(pk=run_id)
    return run.status in RunStatus.terminal() or (run.status == RunStatus.RUNNING and run.pages >= pages)


def _created_and_stored(run_ids: list[int]) -> tuple[int, int]:
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT (SELECT SUM(created) FROM {FeedRun._meta.db_table} WHERE id IN ({','.join(['%s'] * len(run_ids))})), "
            f"(SELECT COUNT(*) FROM {StixObject._meta.db_table})",
            run_ids,
        )
        created, stored = cur.fetchone()
    return int(created or 0), int(stored)
