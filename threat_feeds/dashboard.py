"""Serves the built React dashboard (frontend/dist/index.html) for every non-API path."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import ensure_csrf_cookie

PLACEHOLDER = """<!doctype html><html><head><title>CRISP</title></head><body>
<h1>CRISP</h1><p>The dashboard has not been built yet (run <code>make run</code>).</p>
<p><a href="/api/docs/">API documentation</a> &middot; <a href="/admin/">Admin</a></p></body></html>"""


@ensure_csrf_cookie
def dashboard_index(request: HttpRequest) -> HttpResponse:
    index = settings.FRONTEND_DIST / "index.html"
    if index.exists():
        return HttpResponse(index.read_text(encoding="utf-8"))
    return HttpResponse(PLACEHOLDER)
