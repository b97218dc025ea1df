"""Shared fixtures: dataset paths, API clients, and a real Celery worker process on the test database."""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.peers.celery_processes import process_env, start_worker, stop

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("CRISP_DATASETS", REPO.parent / "shared" / "datasets"))


def load_json(path: Path) -> Any:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not DATASETS.exists():
        pytest.fail(f"datasets not found at {DATASETS} (set CRISP_DATASETS)")
    return DATASETS


@pytest.fixture(scope="session")
def manifest(datasets: Path) -> dict[str, Any]:
    return load_json(datasets / "manifest.json")


@pytest.fixture(autouse=True)
def _allow_loopback_feeds(settings: Any) -> None:
    # Test peers live on 127.0.0.1; production refuses such feed URLs unless allowed.
    settings.CRISP_ALLOW_PRIVATE_FEED_URLS = True


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def database_url(django_db_setup: Any, django_db_blocker: Any) -> str:
    """The URL of the test database, for processes of our own (workers, beat)."""
    with django_db_blocker.unblock():
        return _database_url()


@pytest.fixture(scope="session")
def celery_worker(database_url: str, tmp_path_factory: Any) -> Iterator[dict[str, Any]]:
    """A real `celery worker` process (prefork, 2 children) consuming a queue private to this session."""
    from crisp.celery import app

    queue = f"crisp-test-{os.getpid()}"
    app.conf.task_default_queue = queue
    name = f"crisp-test-{os.getpid()}@localhost"
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = process_env(database_url)
    try:
        process = start_worker(env=env, queue=queue, name=name, log=log)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield {"process": process, "queue": queue, "name": name, "log": log, "env": env}
    stop(process)


def _live_snapshot_agrees(run: Any) -> bool:
    """The Redis snapshot that task-status serves is published just after each commit: a test that
    reads the API after the database must wait for it (it would hang here if it never caught up)."""
    from threat_feeds.control.progress import read_snapshot

    live = read_snapshot(str(run.task_id))
    return live is None or live.snapshot.get("status") == run.status


@pytest.fixture
def wait_for_run() -> Callable[..., Any]:
    from threat_feeds.choices import RunStatus
    from threat_feeds.models import FeedRun

    def wait(run_id: int, statuses: tuple[str, ...] = RunStatus.terminal(), timeout: float = 120) -> FeedRun:
        deadline = time.monotonic() + timeout
        while True:
            run = FeedRun.objects.select_related("feed").get(pk=run_id)
            if run.status in statuses and _live_snapshot_agrees(run):
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} still {run.status}/{run.stage} after {timeout}s")
            time.sleep(0.05)

    return wait


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("analyst", password="analyst-pass-1")


@pytest.fixture
def api(user: Any) -> Any:
    """A DRF client authenticated with a token obtained through /api/auth/token/."""
    from rest_framework.test import APIClient

    client = APIClient()
    response = client.post(
        "/api/auth/token/", {"username": "analyst", "password": "analyst-pass-1"}, format="json"
    )
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client
