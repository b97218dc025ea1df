"""The operator's own tools (SPEC §5): Celery's CLI revoke/terminate, SIGTERM to a worker, `celery purge`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.integration.helpers import demo_server, run_reached, taxii_feed, wait_until
from tests.peers.celery_processes import REPO, process_env, start_worker, stop
from threat_feeds.models import FeedRun, StixObject
from threat_feeds.services.runs import feed_run_start

pytestmark = pytest.mark.django_db(transaction=True)


def celery_cli(env: dict[str, str], *args: str) -> str:
    """The operator's command line, as a process of its own."""
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "crisp", *args],
        check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def events(run: FeedRun) -> list[str]:
    return [event["event"] for event in FeedRun.objects.get(pk=run.pk).events]


@pytest.fixture
def private_queue() -> Iterator[str]:
    """Runs started by this test go to a queue of its own (and so to the workers the test starts)."""
    from crisp.celery import app

    queue = f"crisp-ops-{os.getpid()}-{time.monotonic_ns()}"
    default = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    yield queue
    app.conf.task_default_queue = default


def _gone_then_terminal(run: FeedRun, wait_for_run: Any) -> tuple[FeedRun, float]:
    """Wait for the run's process to exit, then for the run to be terminal; returns the gap."""
    pid = run.worker_pid
    wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    gone = time.monotonic()
    run = wait_for_run(run.pk, timeout=20)  # the reaper's heartbeat timeout is 45 s: not it
    return run, time.monotonic() - gone


def test_celery_control_terminate_finalises_the_run_as_an_operator_cancel(
    user: Any, celery_worker: Any, wait_for_run: Any
) -> None:
    with demo_server(objects=3000, page_max=100, delay=0.1) as server:
        feed = taxii_feed(server, name="terminated", owner=user)
        run = feed_run_start(feed=feed, user=user)
        running = wait_until(lambda: run_reached(run.pk, pages=3))
        celery_cli(celery_worker["env"], "control", "terminate", "SIGTERM", str(run.task_id))
        run, gap = _gone_then_terminal(running, wait_for_run)
        print(f"terminate: run terminal {gap * 1000:.0f} ms after its process was gone")
        assert run.status == "stopped"
        assert (run.cancel_mode, run.cancel_source) == ("stop_now", "celery")
        assert run.cancel_reason == "terminated through Celery (SIGTERM)"
        assert run.cancel_requested_by is None and run.cancel_acknowledged_at is not None
        assert run.objects_kept == run.created == StixObject.objects.count()
        assert events(run)[-1] == "terminated"
        feed.refresh_from_db()
        assert feed.cursor == run.cursor_after != {}
        # The pool replaced the process; the next run resumes from the cursor and completes.
        second = wait_for_run(feed_run_start(feed=feed, user=user).pk)
    assert second.status == "completed"
    assert StixObject.objects.count() == 3000 == run.created + second.created


def test_celery_control_revoke_of_a_running_run_stops_it_at_the_next_checkpoint(
    user: Any, celery_worker: Any, wait_for_run: Any
) -> None:
    with demo_server(objects=3000, page_max=100, delay=0.1) as server:
        feed = taxii_feed(server, name="revoked", owner=user)
        run = feed_run_start(feed=feed, user=user)
        wait_until(lambda: run_reached(run.pk, pages=3))
        celery_cli(celery_worker["env"], "control", "revoke", str(run.task_id))
        run = wait_for_run(run.pk, timeout=20)
    assert run.status == "stopped" and run.pages < 30
    assert (run.cancel_mode, run.cancel_source, run.cancel_reason) == (
        "stop_now",
        "celery",
        "revoked through Celery",
    )
    assert run.objects_kept == StixObject.objects.count() == run.created


def test_sigterm_to_a_worker_hands_its_run_to_another_worker_which_completes_it(
    user: Any, database_url: str, tmp_path: Path, private_queue: str, wait_for_run: Any
) -> None:
    env = process_env(database_url)
    workers = {
        name: start_worker(env=env, queue=private_queue, name=name, log=tmp_path / f"{name}.log")
        for name in (f"deploy-a-{os.getpid()}@localhost", f"deploy-b-{os.getpid()}@localhost")
    }
    try:
        with demo_server(objects=3000, page_max=100, delay=0.1) as server:
            feed = taxii_feed(server, name="rolling deploy", owner=user)
            run = feed_run_start(feed=feed, user=user)
            running = wait_until(lambda: run_reached(run.pk, pages=4))
            first_worker = running.worker_hostname
            workers[first_worker].send_signal(signal.SIGTERM)  # what docker compose stop sends
            sent = time.monotonic()
            wait_until(lambda: "requeued" in events(run), timeout=10)
            handed_back = time.monotonic() - sent
            # The warm shutdown no longer waits for the run: the worker is gone within seconds.
            workers.pop(first_worker).wait(timeout=15)
            run = wait_for_run(run.pk)
    finally:
        for process in workers.values():
            stop(process)
    print(f"SIGTERM -> run handed back in {handed_back * 1000:.0f} ms")
    requeued = next(e for e in run.events if e["event"] == "requeued")
    started = [e["worker"] for e in run.events if e["event"] == "started"]
    assert run.status == "completed" and run.error_code == ""
    assert requeued["from_worker"] == first_worker and requeued["reason"] == "worker_shutdown"
    assert started[0] == first_worker and started[-1] != first_worker
    # Every object stored once: resumed from the cursor, only the boundary instant read again.
    assert run.created == StixObject.objects.count() == 3000
    assert run.fetched == 3001 and run.unchanged == 1
    assert run.pages == 31 and run.hand_back_requested_at is None  # 30 + the page the boundary object shifted


def test_a_purged_queued_run_is_sent_again_by_the_reaper(
    user: Any, control_plane: Any, database_url: str, tmp_path: Path, private_queue: str, wait_for_run: Any
) -> None:
    env = process_env(database_url)
    with demo_server(objects=500, page_max=100) as server:
        feed = taxii_feed(server, name="purged", owner=user)
        run = feed_run_start(feed=feed, user=user)  # no worker consumes this queue yet
        time.sleep(8)  # past CRISP_QUEUED_LOST_SECONDS (2 s) and a reaper round: the message is there
        run.refresh_from_db()
        assert run.status == "queued" and run.requeues == 0
        assert "Purged 1 message" in celery_cli(env, "purge", "-f", "-Q", private_queue)
        wait_until(lambda: FeedRun.objects.get(pk=run.pk).requeues == 1, timeout=30)
        worker = start_worker(env=env, queue=private_queue, name=f"late-{os.getpid()}@localhost",
                              log=tmp_path / "late.log")  # fmt: skip
        try:
            run = wait_for_run(run.pk)
        finally:
            stop(worker)
    assert run.status == "completed" and StixObject.objects.count() == 500
    lost = next(e for e in run.events if e["event"] == "requeued")
    assert lost["reason"] == "message_lost"


def test_a_run_whose_message_keeps_getting_lost_fails_with_a_clear_error(
    user: Any, control_plane: Any, database_url: str, private_queue: str, wait_for_run: Any, settings: Any
) -> None:
    env = process_env(database_url)
    with demo_server(objects=100) as server:
        feed = taxii_feed(server, name="lost for good", owner=user)
        run = feed_run_start(feed=feed, user=user)
        FeedRun.objects.filter(pk=run.pk).update(requeues=3)  # CRISP_MAX_REQUEUES (default 3) reached
        celery_cli(env, "purge", "-f", "-Q", private_queue)
        run = wait_for_run(run.pk, timeout=30)
    assert run.status == "failed" and run.error_code == "task_lost"
    feed.refresh_from_db()
    assert feed_run_start(feed=feed, user=user).status == "queued"  # the feed is free again
