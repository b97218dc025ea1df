"""Crash-proofing (SPEC §5 escalation, §11): a task that ignores its cancel, a SIGKILLed worker, Redis restarts."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from crisp.embedded_redis import EmbeddedRedis
from tests.integration.helpers import demo_server, run_reached, store_snapshot, taxii_feed, wait_until
from tests.peers.celery_processes import process_env, start_worker, stop
from threat_feeds.control.cancellation import feed_run_cancel
from threat_feeds.models import FeedRun, StixObject
from threat_feeds.services.runs import feed_run_start

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stubborn_worker(database_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A worker whose tasks cannot be interrupted in a blocking read: only escalation stops them."""
    from crisp.celery import app

    queue = f"crisp-stubborn-{os.getpid()}"
    name = f"stubborn-{os.getpid()}@localhost"
    env = process_env(database_url, CRISP_INTERRUPT_BLOCKING_CALLS="0")
    process = start_worker(env=env, queue=queue, name=name, log=tmp_path / "stubborn.log")
    default = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    yield {"process": process, "queue": queue}
    app.conf.task_default_queue = default
    stop(process)


def test_task_ignoring_its_cancel_is_terminated_and_rolled_back_by_others(
    user: Any, control_plane: Any, stubborn_worker: Any, wait_for_run: Any
) -> None:
    before = store_snapshot()
    # The server stalls after 3 pages; the worker's read would only give up after its 30 s timeout.
    with demo_server(objects=2000, page_max=100, stall_after_pages=3) as server:
        feed = taxii_feed(server, name="stubborn", owner=user)
        run = feed_run_start(feed=feed, user=user)
        wait_until(lambda: run_reached(run.pk, pages=3, stage="fetching"))
        time.sleep(0.3)
        feed_run_cancel(run_id=run.pk, user=user, mode="cancel_job", reason="it hangs")
        run = wait_for_run(run.pk, timeout=25)
        assert run.status == "cancelled" and run.cancel_escalated
        # Finalised by the worker's task_revoked hook once the process was gone, not by the reaper.
        assert run.events[-1]["event"] == "terminated" and run.events[-1]["signal"] == "SIGKILL"
        assert run.objects_removed == 300
        assert store_snapshot() == before
        # The pool replaced the killed process: the same worker serves the next run.
        feed.cursor = {}
        feed.save()
    with demo_server(objects=200) as healthy:
        feed.url = healthy.api_root_url
        feed.collection_id = healthy.collection_id
        feed.save()
        assert wait_for_run(feed_run_start(feed=feed, user=user).pk).status == "completed"


def test_sigkilled_pool_process_is_interrupted_at_once_and_resumed_without_duplicates(
    user: Any, celery_worker: Any, wait_for_run: Any
) -> None:
    # No reaper runs here: the worker's main process sees its pool process die (WorkerLostError).
    with demo_server(objects=3000, page_max=100, delay=0.1) as server:
        feed = taxii_feed(server, name="killed", owner=user)
        run = feed_run_start(feed=feed, user=user)
        running = wait_until(lambda: run_reached(run.pk, pages=4))
        os.kill(running.worker_pid, signal.SIGKILL)
        run = wait_for_run(run.pk, timeout=20)  # the heartbeat timeout is 45 s: not the reaper
        assert run.status == "interrupted" and run.error_code == "worker_lost"
        assert "SIGKILL" in run.error_message or "signal 9" in run.error_message
        resumed = wait_until(lambda: FeedRun.objects.filter(resumed_from=run).first(), timeout=10)
        resumed = wait_for_run(resumed.pk)
    assert resumed.status == "completed" and resumed.trigger == "resume" and resumed.resume_attempt == 1
    assert resumed.cursor_before == run.cursor_after != {}
    assert resumed.fetched == 3000 - run.fetched + 1  # from the cursor: only the boundary instant again
    assert run.created + resumed.created == StixObject.objects.count() == 3000
    assert [e["event"] for e in FeedRun.objects.get(pk=run.pk).events][-1] == "resumed"


def test_interrupted_run_of_a_feed_without_auto_resume_stays_interrupted(
    user: Any, celery_worker: Any, wait_for_run: Any
) -> None:
    with demo_server(objects=2000, page_max=100, delay=0.1) as server:
        feed = taxii_feed(server, name="no resume", owner=user)
        feed.auto_resume = False
        feed.save()
        run = feed_run_start(feed=feed, user=user)
        os.kill(wait_until(lambda: run_reached(run.pk, pages=2)).worker_pid, signal.SIGKILL)
        assert wait_for_run(run.pk, timeout=20).status == "interrupted"
        time.sleep(1.0)
    assert not FeedRun.objects.filter(feed=feed).exclude(pk=run.pk).exists()


def test_whole_worker_sigkilled_is_reaped_by_heartbeat_and_resumed_elsewhere(
    user: Any, control_plane: Any, database_url: str, tmp_path: Path, wait_for_run: Any
) -> None:
    from crisp.celery import app

    queue = f"crisp-doomed-{os.getpid()}"
    env = process_env(database_url)
    doomed = start_worker(
        env=env, queue=queue, name=f"doomed-{os.getpid()}@localhost", log=tmp_path / "d.log"
    )
    default = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        with demo_server(objects=2000, page_max=100, delay=0.1) as server:
            feed = taxii_feed(server, name="whole worker killed", owner=user)
            run = feed_run_start(feed=feed, user=user)
            wait_until(lambda: run_reached(run.pk, pages=3))
            # The main process first, so nobody is left to notice its pool process dying.
            children = psutil.Process(doomed.pid).children(recursive=True)
            doomed.kill()
            for child in children:
                child.kill()
            doomed.wait()
            run = wait_for_run(run.pk, timeout=60)
            assert run.status == "interrupted" and "no heartbeat" in run.error_message
            resumed = wait_until(lambda: FeedRun.objects.filter(resumed_from=run).first(), timeout=15)
            assert resumed.queue == queue  # resumed where the run was sent, not the reaper's queue
            rescuer = start_worker(env=env, queue=queue, name=f"rescuer-{os.getpid()}@localhost",
                                   log=tmp_path / "r.log")  # fmt: skip
            try:
                resumed = wait_for_run(resumed.pk)
            finally:
                stop(rescuer)
    finally:
        app.conf.task_default_queue = default
    assert resumed.status == "completed"
    assert resumed.fetched == 2000 - run.fetched + 1  # the boundary instant is read again
    assert StixObject.objects.count() == 2000


@pytest.fixture
def private_redis() -> Iterator[EmbeddedRedis]:
    # A Redis of this test's own, so restarting it disturbs nothing else (short path: unix socket limit).
    redis = EmbeddedRedis(tempfile.mkdtemp(prefix="crisp-redis-", dir="/tmp"))
    redis.start()
    yield redis
    redis.stop()


def _celery_url(url: str) -> str:
    return "redis+socket://" + url.removeprefix("unix://").split("?")[0]


def test_redis_restart_mid_run_and_cancel_while_redis_is_down(
    user: Any,
    database_url: str,
    private_redis: EmbeddedRedis,
    tmp_path: Path,
    wait_for_run: Any,
    settings: Any,
) -> None:
    from crisp.celery import app
    from threat_feeds.tasks import consume_feed_task

    queue = f"crisp-redis-test-{os.getpid()}"
    env = process_env(database_url, REDIS_URL=private_redis.url)
    worker = start_worker(
        env=env, queue=queue, name=f"redis-test-{os.getpid()}@localhost", log=tmp_path / "w.log"
    )
    settings.REDIS_URL = private_redis.url  # the cancel service announces through the same Redis

    def start(feed: Any) -> FeedRun:
        run = FeedRun.objects.create(feed=feed, requested_by=user, cursor_before=feed.cursor)
        with app.connection_for_write(_celery_url(private_redis.url)) as connection:
            consume_feed_task.apply_async(
                args=[run.pk], task_id=str(run.task_id), queue=queue, connection=connection
            )
        return run

    try:
        with demo_server(objects=2000, page_max=100, delay=0.1) as server:
            feed = taxii_feed(server, name="redis restarts", owner=user)
            run = start(feed)
            wait_until(lambda: run_reached(run.pk, pages=3))
            private_redis.stop()
            time.sleep(1.0)
            private_redis.start()
            assert wait_for_run(run.pk).status == "completed"
            assert StixObject.objects.count() == 2000

            feed.cursor = {}
            feed.save()
            second = start(feed)
            wait_until(lambda: run_reached(second.pk, pages=3))
            private_redis.stop()
            cancelled = feed_run_cancel(run_id=second.pk, user=user, mode="stop_now", reason="redis is down")
            assert cancelled.status == "stopping"  # recorded durably although Redis could not announce it
            second = wait_for_run(second.pk, timeout=15)  # honoured from the database
            assert second.status == "stopped" and second.pages < 20
    finally:
        if not private_redis.owned:
            private_redis.start()
        stop(worker)
