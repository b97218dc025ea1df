"""Who may cancel, throttling, idempotence, mode escalation, and races (SPEC §4, §5)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.integration.helpers import demo_server, store_snapshot, taxii_feed, wait_until
from threat_feeds.errors import StateConflict
from threat_feeds.models import FeedRun, ThreatFeed
from threat_feeds.services.runs import feed_run_start

pytestmark = pytest.mark.django_db(transaction=True)


def _client(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _running_run(owner: Any, starter: Any) -> FeedRun:
    """A run row in the running state (no worker involved: these tests are about the API's decisions)."""
    feed = ThreatFeed.objects.create(name=f"feed of {owner.username}", source_type="taxii21", owner=owner,
                                     url="http://127.0.0.1:9/", collection_id="c")  # fmt: skip
    return FeedRun.objects.create(feed=feed, requested_by=starter, status="running")


def test_only_starter_owner_or_staff_may_cancel(django_user_model: Any) -> None:
    owner = django_user_model.objects.create_user("owner")
    starter = django_user_model.objects.create_user("starter")
    stranger = django_user_model.objects.create_user("stranger")
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    body = {"mode": "stop_now", "reason": "x"}
    for user, allowed in ((stranger, False), (starter, True), (owner, True), (staff, True)):
        run = _running_run(owner, starter)
        response = _client(user).post(f"/api/threat-feeds/cancel-task/{run.task_id}/", body, format="json")
        assert response.status_code == (202 if allowed else 403), (user.username, response.content)
        if allowed:
            assert response.json()["cancellation"]["requested_by"] == user.username
        else:
            assert response.json()["code"] == "permission_denied"
            assert FeedRun.objects.get(pk=run.pk).status == "running"
        run.feed.delete()


def test_unauthenticated_requests_are_refused(user: Any) -> None:
    run = _running_run(user, user)
    assert APIClient().post(
        f"/api/threat-feeds/cancel-task/{run.task_id}/", {"mode": "stop_now"}
    ).status_code in (401, 403)
    assert APIClient().get(f"/api/threat-feeds/task-status/{run.task_id}/").status_code in (401, 403)
    assert APIClient().get("/api/threat-feeds/").status_code in (401, 403)


def test_repeats_are_idempotent_and_stop_escalates_to_cancel_never_back(user: Any) -> None:
    run = _running_run(user, user)
    client = _client(user)
    url = f"/api/threat-feeds/cancel-task/{run.task_id}/"
    first = client.post(url, {"mode": "stop_now", "reason": "first"}, format="json").json()
    again = client.post(url, {"mode": "stop_now"}, format="json").json()
    assert first["status"] == again["status"] == "stopping"
    assert first["cancellation"]["requested_at"] == again["cancellation"]["requested_at"]
    escalated = client.post(url, {"mode": "cancel_job", "reason": "actually undo it"}, format="json").json()
    assert escalated["status"] == "cancelling" and escalated["cancellation"]["mode"] == "cancel_job"
    downgrade = client.post(url, {"mode": "stop_now"}, format="json").json()
    assert downgrade["status"] == "cancelling" and downgrade["cancellation"]["mode"] == "cancel_job"


def test_cancel_after_the_run_finished_is_a_conflict_with_the_final_status(user: Any) -> None:
    run = _running_run(user, user)
    FeedRun.objects.filter(pk=run.pk).update(status="completed")
    response = _client(user).post(
        f"/api/threat-feeds/cancel-task/{run.task_id}/", {"mode": "cancel_job"}, format="json"
    )
    assert response.status_code == 409
    assert response.json() == {
        "detail": "run already finished: completed",
        "code": "run_finished",
        "status": "completed",
    }


def test_bad_mode_is_a_clear_400(user: Any) -> None:
    run = _running_run(user, user)
    response = _client(user).post(
        f"/api/threat-feeds/cancel-task/{run.task_id}/", {"mode": "explode"}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_cancel_endpoints_are_throttled_per_user(user: Any, django_user_model: Any, settings: Any) -> None:
    from django.core.cache import cache

    cache.clear()
    settings.CRISP_CANCEL_THROTTLE = "3/min"
    run = _running_run(user, user)
    client = _client(user)
    url = f"/api/threat-feeds/cancel-task/{run.task_id}/"
    codes = [client.post(url, {"mode": "stop_now"}, format="json").status_code for _ in range(4)]
    assert codes == [202, 202, 202, 429]
    limited = client.post(url, {"mode": "stop_now"}, format="json")
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert limited.json()["code"] == "throttled"
    other = django_user_model.objects.create_user("other", is_staff=True)
    assert _client(other).post(url, {"mode": "stop_now"}, format="json").status_code == 202  # per user
    cache.clear()


def test_staff_cancels_all_active_runs_of_a_feed(django_user_model: Any) -> None:
    owner = django_user_model.objects.create_user("owner")
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    run = _running_run(owner, owner)
    response = _client(staff).post(f"/api/threat-feeds/{run.feed_id}/cancel_consumption/",
                                   {"mode": "cancel_job", "reason": "admin override"}, format="json")  # fmt: skip
    assert response.status_code == 202 and response.json()["status"] == "cancelling"
    none_left = _client(staff).post(
        f"/api/threat-feeds/{run.feed_id}/cancel_consumption/", {"mode": "stop_now"}, format="json"
    )
    assert none_left.status_code == 202  # the cancelling run is still the feed's active run: idempotent


def test_of_fifty_simultaneous_consumes_exactly_one_starts(
    user: Any, celery_worker: Any, wait_for_run: Any
) -> None:
    with demo_server(objects=3000, delay=0.2) as server:  # paced: the winner stays active throughout
        feed = taxii_feed(server, name="contended", owner=user)
        barrier = threading.Barrier(50)

        def consume(_: int) -> str:
            barrier.wait()
            try:
                return str(feed_run_start(feed=ThreatFeed.objects.get(pk=feed.pk), user=user).task_id)
            except StateConflict as exc:
                return exc.code
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(consume, range(50)))
        started = [r for r in results if r != "run_active"]
        assert len(started) == 1, results
        assert FeedRun.objects.filter(feed=feed).count() == 1
        run = FeedRun.objects.get(task_id=started[0])
        _client(user).post(
            f"/api/threat-feeds/cancel-task/{run.task_id}/", {"mode": "stop_now"}, format="json"
        )
        assert wait_for_run(run.pk).status == "stopped"


def test_cancel_racing_completion_ends_in_one_consistent_state(
    user: Any, celery_worker: Any, wait_for_run: Any
) -> None:
    client = _client(user)
    with demo_server(objects=400, page_max=100) as server:
        feed = taxii_feed(server, name="race", owner=user)
        outcomes = set()
        for attempt in range(6):
            before = store_snapshot()
            run = feed_run_start(feed=feed, user=user)
            if attempt % 2:
                wait_until(lambda run=run: FeedRun.objects.get(pk=run.pk).status != "queued", timeout=30)
            response = client.post(
                f"/api/threat-feeds/cancel-task/{run.task_id}/", {"mode": "cancel_job"}, format="json"
            )
            final = wait_for_run(run.pk)
            if response.status_code == 409:
                assert response.json()["status"] == final.status == "completed"
            else:
                assert response.status_code == 202
                assert final.status == "cancelled"
                assert store_snapshot() == before  # a cancelled run leaves nothing behind
            outcomes.add(final.status)
            ThreatFeed.objects.filter(pk=feed.pk).update(cursor={})
    assert outcomes <= {"completed", "cancelled"}
