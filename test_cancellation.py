"""End-to-end check of CRISP's two ways to stop a run, against a real worker, Redis and database.

    python test_cancellation.py        # starts an embedded Redis if REDIS_URL is unset
    pytest test_cancellation.py        # the same checks, collected by the test suite

A paced local TAXII 2.1 feed is consumed by a real Celery worker process; each mode is requested
through the REST API mid-run and the outcome is checked in the database.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest


def _main() -> int:
    """Run this file under pytest, with an embedded Redis when REDIS_URL is unset."""
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    args = [__file__, "-v", "-s", "-p", "no:cacheprovider"]
    if os.environ.get("REDIS_URL"):
        return pytest.main(args)
    from crisp.embedded_redis import embedded_redis

    with embedded_redis(os.environ.get("CRISP_VAR_DIR", "var")) as url:
        os.environ["REDIS_URL"] = url
        return pytest.main(args)


if __name__ == "__main__":  # before the Django imports below, which need pytest-django's setup
    sys.exit(_main())

from tests.integration.helpers import demo_server, run_reached, store_snapshot, taxii_feed, wait_until
from threat_feeds.models import StixObject

pytestmark = pytest.mark.django_db(transaction=True)


def _start_and_cancel(api: Any, user: Any, wait_for_run: Any, mode: str, name: str) -> Any:
    with demo_server(objects=3000, page_max=100, delay=0.1) as server:
        feed = taxii_feed(server, name=name, owner=user)
        started = api.post(f"/api/threat-feeds/{feed.pk}/consume/")
        assert started.status_code == 202, started.content
        run_id, task_id = started.json()["run_id"], started.json()["task_id"]
        wait_until(lambda: run_reached(run_id, pages=5))
        answer = api.post(
            f"/api/threat-feeds/cancel-task/{task_id}/", {"mode": mode, "reason": name}, format="json"
        )
        assert answer.status_code == 202, answer.content
        run = wait_for_run(run_id, timeout=10)
    print(f"\n{mode}: {run.status} after {run.pages} pages, {run.created} objects created, "
          f"cancel → terminal {run.cancel_latency_ms} ms")  # fmt: skip
    return run


def test_stop_now_keeps_everything_ingested(
    api: Any, user: Any, celery_worker: Any, wait_for_run: Any
) -> None:
    run = _start_and_cancel(api, user, wait_for_run, "stop_now", "stop now")
    assert run.status == "stopped"
    assert run.objects_kept == run.created == StixObject.objects.count() > 0
    run.feed.refresh_from_db()
    assert run.feed.cursor == run.cursor_after  # the next run resumes after the last stored page


def test_cancel_job_rolls_the_run_back(api: Any, user: Any, celery_worker: Any, wait_for_run: Any) -> None:
    before = store_snapshot()
    run = _start_and_cancel(api, user, wait_for_run, "cancel_job", "cancel job")
    assert run.status == "cancelled"
    assert run.objects_removed == run.created > 0
    assert store_snapshot() == before  # as if the run had never happened
    run.feed.refresh_from_db()
    assert run.feed.cursor == {}
