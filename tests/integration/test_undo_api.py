"""Undo of a finished run through the API, the CLI and admin: who, when, conflicts, cursor (SPEC §5, §6)."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from threat_feeds.errors import StateConflict
from threat_feeds.models import FeedRun, ThreatFeed
from threat_feeds.services.undo import run_undo

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE, AFTER = {"added_after": "2026-01-01T00:00:00Z"}, {"added_after": "2026-02-01T00:00:00Z"}


def _client(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _feed(owner: Any, name: str = "feed") -> ThreatFeed:
    return ThreatFeed.objects.create(name=name, source_type="taxii21", owner=owner, url="http://127.0.0.1:9/",
                                     collection_id="c", cursor=AFTER)  # fmt: skip


def _finished_run(feed: ThreatFeed, starter: Any, status: str = "completed", **fields: Any) -> FeedRun:
    """A run row that finished having moved the feed's cursor from BEFORE to AFTER (no worker involved)."""
    fields = {"cursor_before": BEFORE, "cursor_after": AFTER, **fields}
    return FeedRun.objects.create(feed=feed, requested_by=starter, status=status, **fields)


def _undo(client: APIClient, run: FeedRun, reason: str = "") -> Any:
    return client.post(f"/api/threat-feeds/tasks/{run.task_id}/undo/", {"reason": reason}, format="json")


def test_undo_answers_202_with_the_undo_record_and_puts_the_latest_runs_cursor_back(user: Any) -> None:
    feed = _feed(user)
    run = _finished_run(feed, user)
    response = _undo(_client(user), run, "wrong collection")
    assert response.status_code == 202, response.content
    snapshot = response.json()
    assert snapshot["task_id"] == str(run.task_id) and snapshot["status"] == "undone"
    assert snapshot["can_undo"] is False and snapshot["can_cancel"] is False
    undo = snapshot["undo"]
    assert undo["reason"] == "wrong collection" and undo["requested_by"] == user.username
    assert undo["source"] == "dashboard"  # a session (force_authenticate) is the dashboard's way in
    assert undo["objects_removed"] == undo["objects_restored"] == undo["indicators_removed"] == 0
    assert undo["cursor_restored"] is True and undo["latency_ms"] >= 0
    assert undo["requested_at"] and undo["undone_at"]
    feed.refresh_from_db()
    assert feed.cursor == BEFORE
    run.refresh_from_db()
    assert run.status == "undone" and run.undo_requested_by == user and run.undo_latency_ms is not None
    assert _client(user).get(f"/api/threat-feeds/task-status/{run.task_id}/").json()["undo"] == undo
    listed = _client(user).get("/api/threat-feeds/tasks/?status=undone").json()["results"]
    assert [r["task_id"] for r in listed] == [str(run.task_id)]


@pytest.mark.parametrize("status", ["completed", "stopped", "failed", "interrupted"])
def test_every_finished_status_can_be_undone(user: Any, status: str) -> None:
    run = _finished_run(_feed(user), user, status)
    assert _client(user).get(f"/api/threat-feeds/task-status/{run.task_id}/").json()["can_undo"] is True
    assert _undo(_client(user), run).json()["status"] == "undone"


def test_a_second_undo_is_a_conflict_and_changes_nothing(user: Any) -> None:
    feed = _feed(user)
    run = _finished_run(feed, user)
    client = _client(user)
    assert _undo(client, run, "first").status_code == 202
    first = FeedRun.objects.get(pk=run.pk)
    ThreatFeed.objects.filter(pk=feed.pk).update(cursor=AFTER)  # a later run moved it again
    for _ in range(2):
        again = _undo(client, run, "second")
        assert again.status_code == 409
        assert again.json() == {
            "detail": "run already undone",
            "code": "run_already_undone",
            "status": "undone",
        }
    run.refresh_from_db()
    assert (run.undo_reason, run.undo_requested_at, run.undone_at) == (
        "first",
        first.undo_requested_at,
        first.undone_at,
    )
    feed.refresh_from_db()
    assert feed.cursor == AFTER


def test_of_simultaneous_undos_of_one_run_exactly_one_succeeds(user: Any) -> None:
    run = _finished_run(_feed(user), user)
    barrier = threading.Barrier(8)

    def undo(index: int) -> str:
        barrier.wait()
        try:
            return run_undo(run_id=run.pk, user=user, reason=f"undo {index}").status
        except StateConflict as exc:
            return exc.code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = sorted(pool.map(undo, range(8)))
    assert results == ["run_already_undone"] * 7 + ["undone"]
    assert ThreatFeed.objects.get(pk=run.feed_id).cursor == BEFORE


@pytest.mark.parametrize("status", ["queued", "running", "stopping", "cancelling"])
def test_an_active_run_cannot_be_undone(user: Any, status: str) -> None:
    run = _finished_run(_feed(user), user, status)
    response = _undo(_client(user), run)
    assert response.status_code == 409
    assert response.json()["code"] == "run_not_finished" and response.json()["status"] == status
    assert FeedRun.objects.get(pk=run.pk).status == status


def test_a_cancelled_run_is_already_rolled_back(user: Any) -> None:
    run = _finished_run(_feed(user), user, "cancelled", cancel_mode="cancel_job")
    response = _undo(_client(user), run)
    assert response.status_code == 409 and response.json()["code"] == "run_already_undone"
    assert response.json()["status"] == "cancelled"


def test_only_starter_owner_or_staff_may_undo(django_user_model: Any) -> None:
    owner = django_user_model.objects.create_user("owner")
    starter = django_user_model.objects.create_user("starter")
    stranger = django_user_model.objects.create_user("stranger")
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    for user, allowed in ((stranger, False), (starter, True), (owner, True), (staff, True)):
        feed = _feed(owner, f"feed for {user.username}")
        run = _finished_run(feed, starter)
        status = _client(user).get(f"/api/threat-feeds/task-status/{run.task_id}/").json()
        assert status["can_undo"] is allowed
        response = _undo(_client(user), run, "override")
        assert response.status_code == (202 if allowed else 403), (user.username, response.content)
        if allowed:
            assert response.json()["undo"]["requested_by"] == user.username
        else:
            assert response.json()["code"] == "permission_denied"
            assert FeedRun.objects.get(pk=run.pk).status == "completed"
            assert ThreatFeed.objects.get(pk=feed.pk).cursor == AFTER


def test_undo_requires_authentication_and_an_existing_run(user: Any) -> None:
    run = _finished_run(_feed(user), user)
    assert _undo(APIClient(), run).status_code in (401, 403)
    missing = _client(user).post(
        "/api/threat-feeds/tasks/00000000-0000-4000-8000-000000000000/undo/", {}, format="json"
    )
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert FeedRun.objects.get(pk=run.pk).status == "completed"


def test_undo_shares_the_cancel_throttle_per_user(user: Any, django_user_model: Any, settings: Any) -> None:
    from django.core.cache import cache

    cache.clear()
    settings.CRISP_CANCEL_THROTTLE = "3/min"
    feed = _feed(user)
    runs = [_finished_run(feed, user) for _ in range(5)]
    client = _client(user)
    codes = [_undo(client, run).status_code for run in runs[:4]]
    assert codes == [202, 202, 202, 429]
    limited = _undo(client, runs[4])
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert limited.json()["code"] == "throttled"
    assert FeedRun.objects.get(pk=runs[4].pk).status == "completed"
    staff = django_user_model.objects.create_user("other", is_staff=True)
    assert _undo(_client(staff), runs[4]).status_code == 202  # per user
    cache.clear()


def test_the_cursor_goes_back_only_for_the_feeds_latest_run(user: Any) -> None:
    feed = _feed(user)
    first = _finished_run(feed, user)
    FeedRun.objects.create(feed=feed, requested_by=user, status="completed", cursor_before=AFTER,
                           cursor_after={"added_after": "2026-03-01T00:00:00Z"})  # fmt: skip
    ThreatFeed.objects.filter(pk=feed.pk).update(cursor={"added_after": "2026-03-01T00:00:00Z"})
    snapshot = _undo(_client(user), first).json()
    assert snapshot["status"] == "undone" and snapshot["undo"]["cursor_restored"] is False
    feed.refresh_from_db()
    assert feed.cursor == {"added_after": "2026-03-01T00:00:00Z"}  # the later run's progress is kept


def test_later_runs_that_were_rolled_back_or_moved_nothing_do_not_count(user: Any) -> None:
    feed = _feed(user)
    run = _finished_run(feed, user)
    FeedRun.objects.create(feed=feed, status="cancelled", cursor_before=AFTER, cursor_after={"x": 1})
    FeedRun.objects.create(feed=feed, status="undone", cursor_before=AFTER, cursor_after={"x": 2})
    FeedRun.objects.create(feed=feed, status="failed", cursor_before=AFTER)  # failed before its first page
    assert _undo(_client(user), run).json()["undo"]["cursor_restored"] is True
    feed.refresh_from_db()
    assert feed.cursor == BEFORE


def test_an_active_later_run_keeps_the_cursor(user: Any) -> None:
    feed = _feed(user)
    run = _finished_run(feed, user)
    FeedRun.objects.create(feed=feed, status="running", cursor_before=AFTER)
    assert _undo(_client(user), run).json()["undo"]["cursor_restored"] is False
    assert ThreatFeed.objects.get(pk=feed.pk).cursor == AFTER


def test_a_run_that_never_moved_the_cursor_leaves_it_alone(user: Any) -> None:
    feed = _feed(user)
    run = FeedRun.objects.create(feed=feed, requested_by=user, status="failed", cursor_before=BEFORE)
    assert _undo(_client(user), run).json()["undo"]["cursor_restored"] is False
    assert ThreatFeed.objects.get(pk=feed.pk).cursor == AFTER


def test_undo_run_command(user: Any) -> None:
    feed = _feed(user)
    run = _finished_run(feed, user, "stopped")
    out = io.StringIO()
    call_command("undo_run", str(run.task_id), "--reason", "ops cleanup", "--user", user.username, stdout=out)
    assert f"run {run.pk} ({run.task_id}): undone" in out.getvalue()
    assert "feed cursor put back" in out.getvalue()
    run.refresh_from_db()
    assert run.status == "undone" and run.undo_source == "cli" and run.undo_reason == "ops cleanup"
    assert run.undo_requested_by == user
    with pytest.raises(CommandError, match="already undone"):
        call_command("undo_run", str(run.task_id))
    with pytest.raises(CommandError, match="no run"):
        call_command("undo_run", "00000000-0000-4000-8000-000000000000")
    active = FeedRun.objects.create(feed=feed, status="running")
    with pytest.raises(CommandError, match="not finished"):
        call_command("undo_run", str(active.task_id))


def test_undo_run_command_without_user_acts_as_operator(user: Any, django_user_model: Any) -> None:
    run = _finished_run(_feed(user), user)
    call_command("undo_run", str(run.pk), stdout=io.StringIO())
    run.refresh_from_db()
    assert run.status == "undone" and run.undo_requested_by is None and run.undo_source == "cli"
    stranger = django_user_model.objects.create_user("stranger")
    other = _finished_run(_feed(user, "other"), user)
    with pytest.raises(CommandError, match="may undo"):
        call_command("undo_run", str(other.task_id), "--user", stranger.username)


def test_admin_shows_the_undo_record_and_undoes_selected_runs(admin_client: Any, user: Any) -> None:
    feed = _feed(user)
    older = _finished_run(feed, user)
    newer = _finished_run(
        feed, user, cursor_before=AFTER, cursor_after={"added_after": "2026-03-01T00:00:00Z"}
    )
    ThreatFeed.objects.filter(pk=feed.pk).update(cursor=newer.cursor_after)
    response = admin_client.post(
        "/admin/threat_feeds/feedrun/",
        {"action": "admin_undo", "_selected_action": [older.pk, newer.pk]},
        follow=True,
    )
    assert response.status_code == 200 and b"Undone: 2 run(s)." in response.content
    assert set(FeedRun.objects.values_list("status", flat=True)) == {"undone"}
    feed.refresh_from_db()
    assert feed.cursor == BEFORE  # newest first: each run put the cursor back in turn
    page = admin_client.get(f"/admin/threat_feeds/feedrun/{older.pk}/change/")
    assert page.status_code == 200
    for label in (b"Undo reason", b"Undone at", b"Undo latency ms", b"admin action"):
        assert label in page.content, label
