"""Browser fixtures: Playwright (PyPI wheel, bundled driver) driving Debian's Chromium against the live server."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}
SCREENSHOTS = REPO / "docs" / "screenshots"

# The live server listens on loopback only (pytest-django's default name "localhost" may resolve elsewhere).
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")


@pytest.fixture(scope="session")
def dashboard_built() -> Path:
    """The built dashboard; a missing build is a failure, never a skip (`make test` builds it)."""
    from django.conf import settings

    index = Path(settings.FRONTEND_DIST) / "index.html"
    if not index.exists():
        pytest.fail(
            f"the dashboard is not built ({index} is missing): run `cd frontend && npm ci && npm run build`"
        )
    if Path(settings.FRONTEND_DIST) not in [Path(p) for p in settings.STATICFILES_DIRS]:
        pytest.fail("frontend/dist is not in STATICFILES_DIRS (was it built after Django started?)")
    return index


@pytest.fixture(scope="session")
def browser(dashboard_built: Path) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (`make test` does)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
    # browser steps are plain synchronous code, so Django's async-safety guard is relaxed meanwhile.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def live_server(request: Any) -> Iterator[Any]:
    """The dashboard served by the ASGI application under uvicorn, as `make run` serves it, so the
    task monitor's live stream (server-sent events) works; replaces pytest-django's WSGI server."""
    from tests.peers.asgi_server import AsgiLiveServer

    server = AsgiLiveServer()
    yield server
    server.stop()


@pytest.fixture
def new_page(browser: Any, live_server: Any) -> Iterator[Callable[[], Any]]:
    """Open a page in a fresh browser context (its own cookies: one per signed-in user)."""
    contexts: list[Any] = []

    def make() -> Any:
        context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url, locale="en-GB")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        return page

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Any, username: str, password: str) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    form = page.get_by_test_id("login-form")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("whoami")).to_contain_text(username)


def screenshot(page: Any, name: str) -> Path:
    """A 1366x768 picture for the README, without transient notifications or hover effects."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    close = page.get_by_role("button", name="Dismiss notification")
    while close.count():
        close.first.click()
    page.mouse.move(0, 0)
    page.screenshot(path=str(path))
    return path


def read_count(locator: Any) -> int:
    return int(locator.inner_text().replace(",", "").strip() or 0)


def wait_for_count(locator: Any, above: int, *, timeout: float = 30) -> int:
    """Wait until the number shown by `locator` exceeds `above`; return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = read_count(locator)
        if value > above:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"count stayed at {value} (wanted > {above})")
        time.sleep(0.1)
