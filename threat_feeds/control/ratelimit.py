"""A request quota shared by every worker: a sliding-window log per API key in Redis, taken atomically.

Each granted request is a member of two sorted sets (the short window, e.g. a minute, and the day),
scored by Redis' own clock, so workers on different hosts agree on time. One Lua script trims,
counts and records, so two workers can never both take the last slot. Keys are named by a hash of
the API key: runs of different feeds that share a key share its quota; the key itself is never stored.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

import redis

from threat_feeds.control.signals import redis_client

DAY_SECONDS = 86400

# KEYS: window set, day set. ARGV: window ms, window limit, day limit (0 = none), member.
# Returns {0, 0} when granted, else {1 (window) | 2 (day), milliseconds until a slot frees}.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, limit, day_limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local day = 86400000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {1, math.max(1, tonumber(oldest[2]) + window - now)}
end
if day_limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - day)
  if redis.call('ZCARD', KEYS[2]) >= day_limit then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {2, math.max(1, tonumber(oldest[2]) + day - now)}
  end
  redis.call('ZADD', KEYS[2], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[2], day)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return {0, 0}
"""


@dataclass(frozen=True, slots=True)
class QuotaDecision:
    granted: bool
    wait_seconds: float = 0.0
    scope: str = ""  # "window" or "day" when refused


class QuotaLimiter:
    """At most `per_window` requests per `window_seconds` and `per_day` per day, for one API key."""

    def __init__(
        self,
        *,
        name: str,
        api_key: str,
        per_window: int,
        window_seconds: float = 60.0,
        per_day: int = 0,
        client: redis.Redis | None = None,
    ) -> None:
        if per_window < 1:
            raise ValueError("per_window must be at least 1")
        digest = hashlib.sha256(api_key.encode()).hexdigest()[:24]
        # The provider counts requests when they arrive, after network jitter; a slot is held a
        # little longer than the window so its count never exceeds the limit (seen in bench.vt_quota).
        margin = max(0.25, 0.02 * window_seconds)
        self.window_ms = max(1, int((window_seconds + margin) * 1000))
        self.per_window, self.per_day = per_window, max(0, per_day)
        self.keys = [f"crisp:quota:{name}:{digest}:{self.window_ms}ms", f"crisp:quota:{name}:{digest}:day"]
        self._client = client or redis_client()
        self._script = self._client.register_script(_ACQUIRE)

    def acquire(self) -> QuotaDecision:
        """Take one request slot if the quota allows it now; otherwise say how long until one frees."""
        member = uuid.uuid4().hex
        scope, wait_ms = self._script(
            keys=self.keys, args=[self.window_ms, self.per_window, self.per_day, member]
        )
        if int(scope) == 0:
            return QuotaDecision(True)
        return QuotaDecision(False, int(wait_ms) / 1000.0, "window" if int(scope) == 1 else "day")

    def reset(self) -> None:
        self._client.delete(*self.keys)
