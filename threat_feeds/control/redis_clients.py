"""Pooled Redis clients, one per Redis URL: per process for sync code, per event loop for async code.

A request must not pay for a connection; an async client cannot be shared between event loops (each
test's `asyncio.run`, each uvicorn worker has its own). The URL is read per call because tests
point `settings.REDIS_URL` elsewhere to play Redis being down.
"""

from __future__ import annotations

import asyncio
import weakref

import redis
import redis.asyncio as aioredis
from django.conf import settings

TIMEOUT_SECONDS = 1.0  # a request waiting longer on Redis is better answered from the database

_sync: dict[str, redis.Redis] = {}
_async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, aioredis.Redis]] = (
    weakref.WeakKeyDictionary()
)


def sync_client() -> redis.Redis:
    url = settings.REDIS_URL
    client = _sync.get(url)
    if client is None:
        client = _sync[url] = redis.Redis.from_url(
            url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
        )
    return client


def async_client() -> aioredis.Redis:
    """The running event loop's client for the current URL."""
    url = settings.REDIS_URL
    per_url = _async.setdefault(asyncio.get_running_loop(), {})
    client = per_url.get(url)
    if client is None:
        client = per_url[url] = aioredis.Redis.from_url(
            url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
        )
    return client
