"""Throttles: cancel endpoints per user (CRISP_CANCEL_THROTTLE), failed logins per username + address."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle


class CancelRateThrottle(UserRateThrottle):
    scope = "cancel"

    def get_rate(self) -> str:
        # Read at request time so the setting can be changed in tests and deployments alike.
        return settings.CRISP_CANCEL_THROTTLE


class LoginRateThrottle(SimpleRateThrottle):
    """Counts failed logins of one username from one address (CRISP_LOGIN_THROTTLE, default 10/min).

    Only failures are recorded (`record_failure`), so people and scripts that log in correctly are
    never slowed down, while guessing a password is; once over the rate every attempt, right or
    wrong, gets 429 with Retry-After until the window has passed.
    """

    scope = "login"

    def __init__(self) -> None:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def get_rate(self) -> str:
        return settings.CRISP_LOGIN_THROTTLE

    def get_cache_key(self, request: Any, view: Any) -> str:
        data = getattr(request, "data", None)
        if not isinstance(data, Mapping):
            data = request.POST
        username = str(data.get("username", ""))[:200].strip().lower()
        digest = hashlib.sha256(username.encode("utf-8", "replace")).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": f"{digest}:{self.get_ident(request)}"}

    def allow_request(self, request: Any, view: Any) -> bool:
        self.key = self.get_cache_key(request, view)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        return len(self.history) < self.num_requests

    def record_failure(self, request: Any, view: Any = None) -> None:
        if not hasattr(self, "key"):
            self.allow_request(request, view)
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)
