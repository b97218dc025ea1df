"""task-status answered in front of Django (`api.fast_status`): the same bytes and headers as the
DRF view for every kind of user, and Django answers whatever the fast path cannot answer exactly."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from threat_feeds.api.fast_status import FastTaskStatus
from threat_feeds.control import progress
from threat_feeds.control.redis_clients import sync_client
from threat_feeds.models import FeedRun, ThreatFeed

pytestmark = pytest.mark.django_db(transaction=True)
DJANGO = 599  # what the stand-in for Django answers: the fast path passed the request on


class _Django:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": DJANGO, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def _in_thread(coroutine: Any) -> None:
    """asyncio.run in a thread of its own: the browser tests keep an event loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def _call(app: Any, path: str, *, query: bytes = b"", **headers: str) -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "query_string": query, "scheme": "http",
             "headers": [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in
                         {"host": "127.0.0.1", **headers}.items()]}  # fmt: skip
    _in_thread(app(scope, receive, send))
    start, body = sent
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body["body"]


def _run(owner: Any, starter: Any, status: str = "completed") -> FeedRun:
    feed = ThreatFeed.objects.create(name=f"feed-{time.monotonic_ns()}", source_type="taxii21", owner=owner,
                                     url="http://127.0.0.1:9/", collection_id="c")  # fmt: skip
    started = timezone.now() - timedelta(seconds=10)
    finished = None if status == "running" else started + timedelta(seconds=4)
    return FeedRun.objects.create(feed=feed, requested_by=starter, status=status, started_at=started,
                                  finished_at=finished, fetched=400, created=390, unchanged=10, pages=4,
                                  total_expected=400, cancel_reason="naïve \u2028 ünïcode")  # fmt: skip


@pytest.fixture
def people(django_user_model: Any) -> dict[str, Any]:
    make = django_user_model.objects.create_user
    return {"owner": make("owner"), "starter": make("starter"), "stranger": make("stranger"),
            "staff": make("staff", is_staff=True)}  # fmt: skip


def _token(user: Any) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def test_same_bytes_and_headers_as_the_rest_view_for_every_kind_of_user(people: dict[str, Any]) -> None:
    runs = [_run(people["owner"], people["starter"]), _run(people["owner"], people["starter"], "running")]
    for run in runs:
        assert progress.publish_run(run.pk)
    fallback = _Django()
    app = FastTaskStatus(fallback)
    for name, person in people.items():
        auth = f"Token {_token(person)}"
        for run in runs:
            path = f"/api/threat-feeds/task-status/{run.task_id}/"
            rest = Client(HTTP_AUTHORIZATION=auth).get(path)  # the DRF view; caches the token
            status, headers, body = _call(app, path, authorization=auth, accept="application/json")
            assert (status, body) == (200, rest.content), name
            expected = {k.lower(): v for k, v in rest.headers.items()}
            assert headers == expected, name
    assert fallback.calls == 0  # every answer above came from the fast path


@pytest.mark.parametrize("accept", ["", "*/*", "application/json"])
def test_accepts_what_drf_renders_as_json(people: dict[str, Any], accept: str) -> None:
    run = _run(people["owner"], people["starter"])
    progress.publish_run(run.pk)
    auth = f"Token {_token(people['starter'])}"
    path = f"/api/threat-feeds/task-status/{run.task_id}/"
    Client(HTTP_AUTHORIZATION=auth).get(path)
    headers = {"authorization": auth, **({"accept": accept} if accept else {})}
    assert _call(FastTaskStatus(_Django()), path, **headers)[0] == 200


def test_django_answers_what_the_fast_path_cannot_answer_exactly(
    people: dict[str, Any], settings: Any
) -> None:
    run = _run(people["owner"], people["starter"])
    unpublished = _run(people["owner"], people["starter"])
    progress.publish_run(run.pk)
    auth = f"Token {_token(people['starter'])}"
    path = f"/api/threat-feeds/task-status/{run.task_id}/"
    app = FastTaskStatus(_Django())
    upper = f"/api/threat-feeds/task-status/{str(run.task_id).upper()}/"
    uncached = _call(app, path, authorization=auth)[0]  # the token was never looked up by Django
    Client(HTTP_AUTHORIZATION=auth).get(path)  # now it is cached
    cases = {
        "uncached token": uncached,
        "no credentials (session or 401)": _call(app, path)[0],
        "unknown token": _call(app, path, authorization="Token not-a-token")[0],
        "malformed header": _call(app, path, authorization="Token a b")[0],
        "browsable API": _call(app, path, authorization=auth, accept="text/html")[0],
        "query string": _call(app, path, query=b"format=json", authorization=auth)[0],
        "no snapshot": _call(
            app, f"/api/threat-feeds/task-status/{unpublished.task_id}/", authorization=auth
        )[0],
        "host not allowed": _call(app, path, authorization=auth, host="evil.example")[0],
        "upper-case uuid (Django's 404)": _call(app, upper, authorization=auth)[0],
        "a body": _call(app, path, authorization=auth, content_length="2")[0],
    }
    scope_headers = [(b"host", b"127.0.0.1"), (b"authorization", b"Token x"),
                     (b"authorization", auth.encode())]  # fmt: skip
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    _in_thread(app({"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": scope_headers},
                    None, send))  # fmt: skip
    cases["repeated authorization header"] = sent[0]["status"]
    settings.SECURE_SSL_REDIRECT = True
    cases["HTTPS redirect configured"] = _call(app, path, authorization=auth)[0]
    settings.SECURE_SSL_REDIRECT = False
    assert cases == dict.fromkeys(cases, DJANGO)
    assert _call(app, path, authorization=auth)[0] == 200
    people["starter"].is_active = False
    people["starter"].save()  # drops the cached entry: Django refuses the token
    assert _call(app, path, authorization=auth)[0] == DJANGO
    people["starter"].is_active = True
    people["starter"].save()
    Client(HTTP_AUTHORIZATION=auth).get(path)
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # Redis down: Django answers from the database
    assert _call(app, path, authorization=auth)[0] == DJANGO


def test_an_inactive_users_cached_entry_is_never_served(people: dict[str, Any]) -> None:
    """Even with the entry written behind the signals' back (a raw UPDATE), no fast answer."""
    import json

    from threat_feeds.api.authentication import cache_key

    run = _run(people["owner"], people["starter"])
    progress.publish_run(run.pk)
    key = _token(people["starter"])
    fields = {"id": people["starter"].pk, "username": "starter", "is_active": False, "is_staff": False,
              "is_superuser": False}  # fmt: skip
    sync_client().set(cache_key(key), json.dumps(fields), ex=60)
    path = f"/api/threat-feeds/task-status/{run.task_id}/"
    assert _call(FastTaskStatus(_Django()), path, authorization=f"Token {key}")[0] == DJANGO
    assert Client(HTTP_AUTHORIZATION=f"Token {key}").get(path).status_code == 401
