"""Who may change a feed: its owner or staff. Reading is open to every authenticated user."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request


class IsFeedOwnerOrStaffForWrites(permissions.BasePermission):
    message = "Only the feed's owner or staff may change or delete it."

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if request.method in permissions.SAFE_METHODS or getattr(view, "action", "") in {"consume"}:
            return True
        if getattr(view, "action", "") == "cancel_consumption":
            return True  # checked per run by the cancellation service
        return bool(request.user.is_staff or obj.owner_id == request.user.pk)
