"""`GET /api/threat-feeds/task-status/{task_id}/` answered at the ASGI layer, before Django.

Polling scripts call task-status many times a second. Through Django's ASGI handler each call
costs about 4.6 ms of CPU here (the request signals and the sync DRF view run in a worker thread),
which capped task-status near 200 requests/s for the whole machine. Its common case — a token
header whose user is cached, a live snapshot in Redis the user may see — needs one Redis round
trip and no database, so this wrapper answers it with the functions the DRF view and the token
authentication use (`user_fields`, `LiveSnapshot.visible_to` / `for_user`), the same JSON and the
same headers. Everything else goes to Django unchanged and is answered as before: a session
cookie, an unknown or uncached token, an inactive user, no snapshot, Redis down, a query string,
an `Accept` other than JSON, a host not allowed, a request body, a repeated header, and every
request while HTTPS rules (SECURE_SSL_REDIRECT, HSTS, a proxy's SSL header) or
USE_X_FORWARDED_HOST are configured.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import redis
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from threat_feeds.api.authentication import cache_key, token_from_header, user_fields, user_from_fields
from threat_feeds.control.progress import LiveSnapshot, snapshot_key
from threat_feeds.control.redis_clients import async_client

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Django's <uuid:...> converter: lower-case only, as the URL pattern matches.
PATH = re.compile(
    r"/api/threat-feeds/task-status/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/"
)
JSON_ACCEPTS = {b"", b"*/*", b"application/json"}  # what DRF answers with its JSON renderer
_READ = {b"authorization", b"accept", b"host", b"content-length", b"transfer-encoding"}


class FastTaskStatus:
    """ASGI middleware: task-status from the live snapshot, or the wrapped application."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("query_string"):
            match = PATH.fullmatch(scope["path"])
            if match is not None:
                answer = await _answer(scope, match.group(1))
                if answer is not None:
                    await send(
                        {"type": "http.response.start", "status": 200, "headers": _headers(len(answer))}
                    )
                    await send({"type": "http.response.body", "body": answer})
                    return
        await self.app(scope, receive, send)


async def _answer(scope: Scope, task_id: str) -> bytes | None:
    """The response body, or None for whatever Django must answer."""
    if (settings.SECURE_SSL_REDIRECT or settings.SECURE_HSTS_SECONDS or settings.SECURE_PROXY_SSL_HEADER
            or settings.USE_X_FORWARDED_HOST):  # fmt: skip
        return None  # HTTPS rules and proxy headers are Django's to apply
    headers: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:  # lower-case names
        if name in headers and name in _READ:
            return None  # Django joins repeated headers with commas: let it judge those
        headers[name] = value
    if headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers:
        return None
    if headers.get(b"accept", b"").strip() not in JSON_ACCEPTS:
        return None
    if not _host_allowed(headers.get(b"host", b"")):
        return None
    try:
        token = token_from_header(headers.get(b"authorization", b""))
    except ValueError:
        return None
    if token is None:
        return None
    try:
        pipe = async_client().pipeline(transaction=False)
        pipe.get(cache_key(token))
        pipe.hget(snapshot_key(task_id), "m")
        cached, message = await pipe.execute()
    except (redis.RedisError, OSError) as exc:
        log.debug("fast task-status unavailable, Django answers: %s", exc)
        return None
    fields = user_fields(cached)
    if fields is None or not fields["is_active"] or not message:
        return None
    user = user_from_fields(fields)
    live = LiveSnapshot.parse(message)
    if not live.visible_to(user):
        return None
    return _render(live.for_user(user))


def _render(data: dict[str, Any]) -> bytes:
    """What DRF's JSONRenderer makes of `data` (compact, not ASCII-escaped, U+2028/9 escaped)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def _host_allowed(host: bytes) -> bool:
    domain, _port = split_domain_port(host.decode("latin-1"))
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # what Django allows then
    return bool(domain) and validate_host(domain, allowed)


def _headers(length: int) -> list[tuple[bytes, bytes]]:
    """The headers Django's middleware and DRF put on task-status's 200 (tested side by side)."""
    headers = [
        (b"content-type", b"application/json"),
        (b"vary", b"Accept"),
        (b"allow", b"GET, HEAD, OPTIONS"),
        (b"content-length", str(length).encode()),
    ]
    if settings.X_FRAME_OPTIONS:
        headers.append((b"x-frame-options", settings.X_FRAME_OPTIONS.encode()))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append((b"x-content-type-options", b"nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        value = policy if isinstance(policy, str) else ",".join(policy)
        headers.append((b"referrer-policy", value.encode()))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append((b"cross-origin-opener-policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY.encode()))
    return headers
