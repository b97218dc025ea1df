"""Cancel endpoints are throttled per user (CRISP_CANCEL_THROTTLE, default 20/min)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import UserRateThrottle


class CancelRateThrottle(UserRateThrottle):
    scope = "cancel"

    def get_rate(self) -> str:
        # Read at request time so the setting can be changed in tests and deployments alike.
        return settings.CRISP_CANCEL_THROTTLE
