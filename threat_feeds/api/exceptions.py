"""Every API error is JSON {"detail", "code"} with the right status (SPEC §6)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import (
    ObjectDoesNotExist,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
)
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from threat_feeds.errors import CrispError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, CrispError):
        return Response({"detail": exc.detail, "code": exc.code, **exc.extra}, status=exc.status_code)
    if isinstance(exc, ObjectDoesNotExist):
        exc = Http404(str(exc))
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": str(exc), "code": "too_large"}, status=413)
    if isinstance(exc, (TooManyFieldsSent, SuspiciousOperation)):
        return Response({"detail": str(exc)[:500], "code": "bad_request"}, status=400)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": "Invalid input.", "code": "invalid", "errors": response.data}
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        response.data = {"detail": str(exc.detail), "code": code}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response.data["retry_after_seconds"] = int(exc.wait) + 1
    elif response.status_code == status.HTTP_404_NOT_FOUND:
        response.data = {"detail": "Not found.", "code": "not_found"}
    return response
