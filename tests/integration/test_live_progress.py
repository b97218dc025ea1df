"""Live progress (issue 11): task-status from the Redis snapshot, DB fallback, permissions, and the
server-sent-events stream for a real run on a real worker."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.integration.helpers import demo_server, taxii_feed
from threat_feeds.control import progress
from threat_feeds.control.redis_clients import sync_client
from threat_feeds.models import FeedRun, ThreatFeed

pytestmark = pytest.mark.django_db(transaction=True)


def _token_client(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def _finished_run(owner: Any, starter: Any, **fields: Any) -> FeedRun:
    feed = ThreatFeed.objects.create(name=f"feed-{time.monotonic_ns()}", source_type="taxii21", owner=owner,
                                     url="http://127.0.0.1:9/", collection_id="c")  # fmt: skip
    started = timezone.now() - timedelta(seconds=10)
    values = {"status": "completed", "started_at": started, "finished_at": started + timedelta(seconds=4),
              "fetched": 400, "created": 390, "unchanged": 10, "pages": 4, "total_expected": 400, **fields}  # fmt: skip
    return FeedRun.objects.create(feed=feed, requested_by=starter, **values)


@pytest.fixture
def people(django_user_model: Any) -> dict[str, Any]:
    make = django_user_model.objects.create_user
    return {"owner": make("owner"), "starter": make("starter"), "stranger": make("stranger"),
            "staff": make("staff", is_staff=True)}  # fmt: skip


def test_task_status_answers_from_the_live_snapshot_without_a_query(
    people: dict[str, Any], django_assert_num_queries: Any
) -> None:
    run = _finished_run(people["owner"], people["starter"])
    client = _token_client(people["starter"])
    url = f"/api/threat-feeds/task-status/{run.task_id}/"
    from_db = client.get(url).json()  # never published: the database answers
    assert progress.publish_run(run.pk)
    client.get(url)  # the token look-up is cached from here on
    with django_assert_num_queries(0):
        response = client.get(url)
    assert response.status_code == 200
    assert response.json() == from_db  # the same JSON as the database path, to the character
    assert response.content == client.get(url).content


def test_the_snapshot_follows_every_change_and_an_older_read_never_wins(people: dict[str, Any]) -> None:
    run = _finished_run(people["owner"], people["starter"], status="running", finished_at=None)
    client = _token_client(people["starter"])
    url = f"/api/threat-feeds/task-status/{run.task_id}/"
    progress.publish_run(run.pk)
    stale = progress.encode(run)
    client.post(f"/api/threat-feeds/cancel-task/{run.task_id}/", {"mode": "stop_now"}, format="json")
    assert client.get(url).json()["status"] == "stopping"  # published by the cancel, after its commit
    # A publisher that read the run before the cancel and writes after it changes nothing.
    script = sync_client().register_script(progress._STORE_AND_PUBLISH)
    assert script(keys=[progress.snapshot_key(str(run.task_id))], args=[1, stale, 60, progress.CHANNEL]) == 0
    assert client.get(url).json()["status"] == "stopping"


def test_task_status_falls_back_to_the_database_when_redis_is_down(
    people: dict[str, Any], settings: Any
) -> None:
    run = _finished_run(people["owner"], people["starter"])
    client = _token_client(people["starter"])
    url = f"/api/threat-feeds/task-status/{run.task_id}/"
    progress.publish_run(run.pk)
    expected = client.get(url).json()
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    assert progress.read_snapshot(str(run.task_id)) is None
    response = client.get(url)
    assert response.status_code == 200 and response.json() == expected


def test_per_user_fields_and_permissions_from_the_snapshot(people: dict[str, Any]) -> None:
    run = _finished_run(people["owner"], people["starter"])
    active = _finished_run(people["owner"], people["starter"], status="running", finished_at=None)
    for r in (run, active):
        progress.publish_run(r.pk)
    for name, may in (("stranger", False), ("starter", True), ("owner", True), ("staff", True)):
        client = _token_client(people[name])
        done = client.get(f"/api/threat-feeds/task-status/{run.task_id}/").json()
        running = client.get(f"/api/threat-feeds/task-status/{active.task_id}/").json()
        assert (done["can_cancel"], done["can_undo"]) == (False, may), name
        assert (running["can_cancel"], running["can_undo"]) == (may, False), name
    assert APIClient().get(f"/api/threat-feeds/task-status/{run.task_id}/").status_code == 401
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert bad.get(f"/api/threat-feeds/task-status/{run.task_id}/").status_code == 401
    missing = _token_client(people["starter"]).get(
        "/api/threat-feeds/task-status/1b4e28ba-2fa1-11d2-883f-0016d3cca427/"
    )
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_a_revoked_token_or_deactivated_user_is_refused_at_once(people: dict[str, Any]) -> None:
    run = _finished_run(people["owner"], people["starter"])
    client = _token_client(people["starter"])
    url = f"/api/threat-feeds/task-status/{run.task_id}/"
    assert client.get(url).status_code == 200  # cached now
    people["starter"].is_active = False
    people["starter"].save()
    assert client.get(url).status_code == 401
    people["starter"].is_active = True
    people["starter"].save()
    assert client.get(url).status_code == 200
    Token.objects.filter(user=people["starter"]).delete()
    assert client.get(url).status_code == 401


# --- the stream -----------------------------------------------------------------------------


@pytest.fixture
def asgi_server(settings: Any) -> Iterator[Any]:
    from tests.peers.asgi_server import AsgiLiveServer

    settings.CRISP_STREAM_HEARTBEAT_SECONDS = 0.5
    server = AsgiLiveServer()
    server._live_server_modified_settings.enable()
    yield server
    server._live_server_modified_settings.disable()
    server.stop()


class _Reader(threading.Thread):
    """Reads a stream's events (JSON `data:` lines and comment lines) in the background."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(daemon=True)
        self.response = response
        self.events: list[dict[str, Any]] = []
        self.comments = 0

    def run(self) -> None:
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line.startswith("data: "):
                    self.events.append(json.loads(line[6:]))
                elif line.startswith(":"):
                    self.comments += 1
        except (requests.RequestException, AttributeError, ValueError):
            pass

    def statuses(self, task_id: str) -> list[str]:
        return [e["status"] for e in list(self.events) if e["task_id"] == task_id]


def _open(server: Any, **headers: str) -> requests.Response:
    return requests.get(
        f"{server.url}/api/threat-feeds/tasks/stream/", headers=headers, stream=True, timeout=(5, 30)
    )


def _wait(predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)


def test_the_stream_authenticates_like_the_rest_api(asgi_server: Any, people: dict[str, Any]) -> None:
    for headers in ({}, {"Authorization": "Token not-a-token"}, {"Authorization": "Token a b"}):
        response = _open(asgi_server, **headers)
        assert response.status_code == 401, headers
        assert response.json()["code"] in {"not_authenticated", "authentication_failed"}
    token = Token.objects.create(user=people["stranger"]).key
    response = _open(asgi_server, Authorization=f"Token {token}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    reader = _Reader(response)
    reader.start()
    _wait(lambda: reader.comments >= 1, timeout=10)  # heartbeats while nothing happens
    response.close()
    session = Client()
    session.force_login(people["starter"])
    cookie = session.cookies["sessionid"].value
    response = requests.get(f"{asgi_server.url}/api/threat-feeds/tasks/stream/", cookies={"sessionid": cookie},
                            stream=True, timeout=(5, 30))  # fmt: skip
    assert response.status_code == 200
    response.close()


def test_the_stream_delivers_a_real_runs_progress_with_per_user_fields(
    asgi_server: Any, people: dict[str, Any], celery_worker: Any
) -> None:
    streams = {}
    for name in ("starter", "stranger"):
        token = Token.objects.create(user=people[name]).key
        response = _open(asgi_server, Authorization=f"Token {token}")
        assert response.status_code == 200
        streams[name] = _Reader(response)
        streams[name].start()
    with demo_server(objects=3000, page_max=100, delay=0.05) as server:
        feed = taxii_feed(server, name="streamed", owner=people["owner"], page_size=100)
        feed.shared_with.add(people["starter"])  # who may start a feed: owner, staff, shared users
        started = _token_client(people["starter"]).post(f"/api/threat-feeds/{feed.pk}/consume/")
        assert started.status_code == 202
        task_id = started.json()["task_id"]
        _wait(lambda: "completed" in streams["starter"].statuses(task_id), timeout=120)
    mine = [e for e in streams["starter"].events if e["task_id"] == task_id]
    fetched = [e["progress"]["fetched"] for e in mine]
    assert fetched == sorted(fetched) and len(set(fetched)) >= 3  # progress as it happens, in order
    assert mine[-1]["progress"]["fetched"] == 3000
    assert any(e["can_cancel"] for e in mine if e["status"] == "running")
    assert mine[-1]["can_undo"] is True
    _wait(lambda: "completed" in streams["stranger"].statuses(task_id), timeout=10)
    theirs = [e for e in streams["stranger"].events if e["task_id"] == task_id]
    assert not any(e["can_cancel"] or e["can_undo"] for e in theirs)
    final = _token_client(people["starter"]).get(f"/api/threat-feeds/task-status/{task_id}/").json()
    assert final["status"] == "completed" and final["progress"]["fetched"] == 3000
    for reader in streams.values():
        reader.response.close()
