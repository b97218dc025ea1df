"""The demo server's tests need no Django: they also run with ``-p no:django``."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _allow_loopback_feeds() -> None:
    """Override the project-wide fixture (it needs pytest-django's ``settings``); nothing to allow here."""
