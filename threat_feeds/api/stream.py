"""`GET /api/threat-feeds/tasks/stream/`: server-sent events relaying the runs' live snapshots.

A plain async Django view (DRF views are sync and would hold a thread per open stream), served by
the ASGI server. Each process keeps one Redis pub/sub subscription (`_Hub`) and fans the published
snapshots out to its open streams; each stream keeps the runs its user may see, personalises them
(`can_cancel`, `can_undo`), sends at most one event per run every MIN_INTERVAL seconds (a status
change goes out at once), and a comment line as heartbeat when nothing happened for a while.
Authentication and permissions are those of the REST endpoints: `Authorization: Token <key>` first,
then the session; the same snapshot visibility rule (`control.progress.may_see`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from rest_framework.utils.encoders import JSONEncoder

from threat_feeds.api.authentication import token_from_header, user_for_token
from threat_feeds.control.progress import CHANNEL, LiveSnapshot

log = logging.getLogger(__name__)
QUEUE_LIMIT = 2000  # a stream this far behind is closed; the browser reconnects and starts afresh


@dataclass(eq=False)
class _Subscriber:
    queue: asyncio.Queue[LiveSnapshot | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))


class _Hub:
    """One pub/sub subscription per event loop (per web process), shared by every open stream."""

    def __init__(self) -> None:
        self.subscribers: set[_Subscriber] = set()
        self.task: asyncio.Task[None] | None = None
        self.client: aioredis.Redis | None = None
        self.lock = asyncio.Lock()

    async def subscribe(self) -> _Subscriber:
        """Raises redis.RedisError when Redis cannot be reached (the stream is then unavailable)."""
        async with self.lock:
            if self.task is None or self.task.done():
                self.client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                try:
                    await pubsub.subscribe(CHANNEL)
                except BaseException:
                    await pubsub.aclose()
                    await self.client.aclose()
                    raise
                self.task = asyncio.create_task(self._pump(pubsub), name="crisp-stream-hub")
            subscriber = _Subscriber()
            self.subscribers.add(subscriber)
            return subscriber

    def unsubscribe(self, subscriber: _Subscriber) -> None:
        self.subscribers.discard(subscriber)

    async def _pump(self, pubsub: Any) -> None:
        try:
            while True:
                message = await pubsub.get_message(timeout=30.0)
                if message is None or message.get("type") != "message":
                    continue
                try:
                    live = LiveSnapshot.parse(message["data"])
                except (ValueError, KeyError, TypeError):
                    log.warning("ignoring a malformed snapshot on %s", CHANNEL)
                    continue
                for subscriber in list(self.subscribers):
                    try:
                        subscriber.queue.put_nowait(live)
                    except asyncio.QueueFull:
                        self._close(subscriber)
        except (redis.RedisError, OSError) as exc:
            log.warning("live stream lost Redis (%s): open streams end, browsers reconnect", exc)
        finally:
            for subscriber in list(self.subscribers):
                self._close(subscriber)
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            if self.client is not None:
                with contextlib.suppress(Exception):
                    await self.client.aclose()

    def _close(self, subscriber: _Subscriber) -> None:
        self.subscribers.discard(subscriber)
        with contextlib.suppress(asyncio.QueueEmpty):
            while subscriber.queue.full():
                subscriber.queue.get_nowait()
        subscriber.queue.put_nowait(None)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub] = weakref.WeakKeyDictionary()


def _hub() -> _Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = _Hub()
    return hub


async def _released(fn: Any, *args: Any) -> Any:
    """Run sync (database) code, then give its connection back at once: an open stream lasts for
    hours and must not hold a connection (or a pool slot) meanwhile."""

    def call() -> Any:
        try:
            return fn(*args)
        finally:
            connections.close_all()

    return await sync_to_async(call)()


def _error(status: int, detail: str, code: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"detail": detail, "code": code}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


async def authenticate(request: HttpRequest) -> Any | JsonResponse:
    """The user, as DRF's authentication classes of the REST API would find it, or the error response."""
    header = request.META.get("HTTP_AUTHORIZATION", "").encode("iso-8859-1", "replace")
    try:
        key = token_from_header(header)
    except ValueError as exc:
        return _error(401, str(exc), "authentication_failed", **{"WWW-Authenticate": "Token"})
    if key is not None:
        found = await _released(user_for_token, key)
        if found is None:
            return _error(401, "Invalid token.", "authentication_failed", **{"WWW-Authenticate": "Token"})
        user = found[0]
        if not user.is_active:
            return _error(
                401, "User inactive or deleted.", "authentication_failed", **{"WWW-Authenticate": "Token"}
            )
        return user
    user = await _released(get_user, request)  # the session's user, as AuthenticationMiddleware finds it
    if user is not None and user.is_authenticated and user.is_active:
        return user
    return _error(401, "Authentication credentials were not provided.", "not_authenticated",
                  **{"WWW-Authenticate": "Token"})  # fmt: skip


def _still_authenticated(request: HttpRequest, token_key: str | None) -> bool:
    """Whether the stream's credentials still hold: a signed-out session or a revoked token ends it."""
    if token_key is not None:
        found = user_for_token(token_key)
        return found is not None and found[0].is_active
    from django.contrib.auth import SESSION_KEY, get_user_model

    key = request.session.session_key
    if not key or not request.session.exists(key):
        return False
    user_id = request.session.get(SESSION_KEY)
    return get_user_model().objects.filter(pk=user_id, is_active=True).exists()


def _initial(user: Any) -> list[dict[str, Any]]:
    """The active runs the user may see, as the REST API shows them (one query, at connect)."""
    from threat_feeds import selectors
    from threat_feeds.api.serializers import run_snapshot
    from threat_feeds.choices import RunStatus

    runs = selectors.runs_visible_to(user).filter(status__in=RunStatus.active()).order_by("-queued_at", "-id")
    return [run_snapshot(run, user=user) for run in runs]


def _event(snapshot: dict[str, Any]) -> str:
    return (
        "data: " + json.dumps(snapshot, ensure_ascii=False, separators=(",", ":"), cls=JSONEncoder) + "\n\n"
    )


def _encode_for(live: LiveSnapshot, user: Any) -> str:
    return _event(live.for_user(user))


async def _events(
    request: HttpRequest,
    user: Any,
    token_key: str | None,
    hub: _Hub,
    subscriber: _Subscriber,
    initial: list[str],
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    heartbeat = float(settings.CRISP_STREAM_HEARTBEAT_SECONDS)
    reauth = float(settings.CRISP_STREAM_REAUTH_SECONDS)
    next_reauth = loop.time() + reauth
    interval = float(settings.CRISP_STREAM_MIN_INTERVAL_SECONDS)
    sent_at: dict[str, float] = {}
    sent_status: dict[str, str] = {}
    pending: dict[str, LiveSnapshot] = {}
    try:
        yield f"retry: {int(settings.CRISP_STREAM_RETRY_MS)}\n\n"
        for event in initial:
            yield event
        last_output = loop.time()
        while True:
            now = loop.time()
            due = [sent_at[t] + interval for t in pending]
            wake = min([last_output + heartbeat, next_reauth, *due])
            try:
                live = await asyncio.wait_for(subscriber.queue.get(), timeout=max(0.0, wake - now))
            except TimeoutError:
                live = False
            if live is None:
                return  # the hub lost Redis, or this stream fell too far behind
            if loop.time() >= next_reauth:
                if not await _released(_still_authenticated, request, token_key):
                    return  # the browser reconnects, is refused (401) and goes to the login page
                next_reauth = loop.time() + reauth
            out: list[str] = []
            now = loop.time()
            if live and live.visible_to(user):
                task_id = live.snapshot["task_id"]
                changed = sent_status.get(task_id) != live.snapshot["status"]
                if changed or now - sent_at.get(task_id, -interval) >= interval:
                    pending.pop(task_id, None)
                    out.append(_encode_for(live, user))
                    sent_at[task_id], sent_status[task_id] = now, live.snapshot["status"]
                else:
                    pending[task_id] = live
            for task_id in [t for t in pending if now >= sent_at[t] + interval]:
                live_pending = pending.pop(task_id)
                out.append(_encode_for(live_pending, user))
                sent_at[task_id], sent_status[task_id] = now, live_pending.snapshot["status"]
            if out:
                yield "".join(out)
                last_output = now
            elif now >= last_output + heartbeat:
                yield ": keep-alive\n\n"
                last_output = now
    finally:
        hub.unsubscribe(subscriber)


async def task_stream(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return _error(405, f'Method "{request.method}" not allowed.', "method_not_allowed", Allow="GET")
    user = await authenticate(request)
    if isinstance(user, JsonResponse):
        return user
    if not isinstance(request, ASGIRequest):
        # Under WSGI an endless async iterator would be buffered whole: the client polls instead.
        return _error(
            503, "The live stream needs the ASGI server; poll task-status instead.", "stream_unavailable"
        )
    hub = _hub()
    try:
        subscriber = await hub.subscribe()
    except (redis.RedisError, OSError) as exc:
        log.warning("live stream unavailable: %s", exc)
        return _error(503, "The live stream is unavailable; poll task-status instead.", "stream_unavailable")
    try:
        initial = [_event(snapshot) for snapshot in await _released(_initial, user)]
    except BaseException:
        hub.unsubscribe(subscriber)
        raise
    token_key = token_from_header(request.META.get("HTTP_AUTHORIZATION", "").encode("iso-8859-1", "replace"))
    events = _events(request, user, token_key, hub, subscriber, initial)
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a reverse proxy must pass events on at once
    return response
