"""Fixtures shared by the integration tests that need CRISP's control plane running."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.peers.celery_processes import process_env, start_beat, start_worker, stop


@pytest.fixture(scope="module")
def control_plane(database_url: str, tmp_path_factory: Any) -> Iterator[dict[str, str]]:
    """celery beat + the control worker that runs the reaper, with short test timeouts."""
    workdir = tmp_path_factory.mktemp("control")
    queue = f"crisp-control-test-{os.getpid()}"
    env = process_env(
        database_url,
        CRISP_CONTROL_QUEUE=queue,
        CRISP_HEARTBEAT_TIMEOUT_SECONDS="8",
        CRISP_CANCEL_GRACE_SECONDS="3",
        CRISP_QUEUED_LOST_SECONDS="2",
    )
    worker = start_worker(env=env, queue=queue, name=f"control-{os.getpid()}@localhost",
                          log=workdir / "control.log", concurrency=1, pool="solo")  # fmt: skip
    beat = start_beat(env=env, workdir=workdir)
    yield {"queue": queue}
    stop(beat)
    stop(worker)
