"""Who may act on a feed. Reading is open to every authenticated user (settings only in part).

- start a run (consume), edit, upload: owner, staff, or a user the owner shares the feed with;
- delete, change url / credentials / sharing: owner or staff (checked in the serializer for fields);
- cancel: per run, by the cancellation service (starter, feed owner, staff).
"""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from threat_feeds.selectors import can_edit_feed, can_manage_feed


class FeedPermission(permissions.BasePermission):
    message = "Only the feed's owner, staff, or users it is shared with may change or start it."

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        action = getattr(view, "action", "")
        if request.method in permissions.SAFE_METHODS or action == "cancel_consumption":
            return True  # cancel is checked per run by the cancellation service
        if request.method == "DELETE":
            return can_manage_feed(request.user, obj)
        return can_edit_feed(request.user, obj)
