"""One exception tree: every error carries a machine code and an HTTP status (rendered by api/exceptions.py)."""

from __future__ import annotations

from typing import Any


class CrispError(Exception):
    code = "error"
    status_code = 400

    def __init__(self, detail: str, *, code: str | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.extra = extra or {}


class InvalidInput(CrispError):
    code = "invalid"
    status_code = 400


class NotAllowed(CrispError):
    code = "permission_denied"
    status_code = 403


class StateConflict(CrispError):
    code = "conflict"
    status_code = 409
