"""Limits checked before any /api/ view runs: URL length (414) and declared body size (413), as JSON."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from threat_feeds.api.error_views import json_error

UPLOAD_PATH = re.compile(r"^/api/threat-feeds/\d+/upload/$")
MULTIPART_SLACK = 64 * 1024  # multipart boundaries and headers around the file


class ApiLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            refused = self._refuse(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    def _refuse(self, request: HttpRequest) -> HttpResponse | None:
        url_length = len(request.META.get("PATH_INFO", "")) + len(request.META.get("QUERY_STRING", ""))
        if url_length > settings.CRISP_MAX_URL_LENGTH:
            return json_error(
                414, f"The URL is longer than {settings.CRISP_MAX_URL_LENGTH} characters.", "uri_too_long"
            )
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if not declared.isdigit():
            return json_error(400, "Content-Length is not a number.", "bad_request")
        if UPLOAD_PATH.match(request.path):
            limit = settings.CRISP_MAX_UPLOAD_BYTES + MULTIPART_SLACK
        else:
            limit = settings.CRISP_MAX_REQUEST_BYTES
        if int(declared) > limit:
            return json_error(413, f"The request body exceeds the {limit}-byte limit.", "too_large")
        return None
