"""Operators' management commands against a real worker."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.integration.helpers import demo_server, run_reached, taxii_feed, wait_until
from threat_feeds.models import FeedRun, StixObject

pytestmark = pytest.mark.django_db(transaction=True)


def test_consume_feed_waits_with_progress_and_list_runs_shows_it(celery_worker: Any, user: Any) -> None:
    with demo_server(objects=500) as server:
        taxii_feed(server, name="cli feed", owner=user)
        out = io.StringIO()
        call_command("consume_feed", "cli feed", "--wait", "--user", user.username, stdout=out)
    assert "ended: completed" in out.getvalue()
    run = FeedRun.objects.get()
    assert run.trigger == "cli" and run.requested_by == user and StixObject.objects.count() == 500
    listing = io.StringIO()
    call_command("list_runs", stdout=listing)
    assert str(run.task_id) in listing.getvalue() and "completed" in listing.getvalue()


def test_cancel_run_by_feed_and_all(celery_worker: Any, user: Any, wait_for_run: Any) -> None:
    with demo_server(objects=3000, delay=0.1) as server:
        feed = taxii_feed(server, name="cli cancel", owner=user)
        starter = threading.Thread(target=call_command, args=("consume_feed", "cli cancel"))
        starter.start()
        starter.join()
        run = FeedRun.objects.get(feed=feed)
        wait_until(lambda: run_reached(run.pk, pages=2))
        out = io.StringIO()
        call_command(
            "cancel_run", "--feed", "cli cancel", "--mode", "cancel_job", "--reason", "ops", stdout=out
        )
        assert "cancelling" in out.getvalue() or "cancelled" in out.getvalue()
        run = wait_for_run(run.pk)
    assert run.status == "cancelled" and run.cancel_source == "cli" and run.cancel_reason == "ops"
    assert StixObject.objects.count() == 0
    out = io.StringIO()
    call_command("cancel_run", "--all", stdout=out)
    assert "no active runs" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("cancel_run")
