"""A real OASIS medallion TAXII 2.1 server in a subprocess, serving given STIX objects on 127.0.0.1."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.peers.celery_processes import stop

API_ROOT = "api1"
COLLECTION_ID = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
USERNAME = "admin"
PASSWORD = "Password0"
TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
DATE_ADDED_START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

# medallion's memory backend parses the same timestamps O(n^2) times per query (~30 s for the 1,826
# ATT&CK ICS objects, longer than its 30 s `next` token lifetime). Caching its pure timestamp
# parser changes no answer and brings that to a few seconds.
_LAUNCHER = """
import functools, medallion.common as common, medallion.filters.basic_filter as basic_filter
cached = functools.lru_cache(maxsize=None)(common.string_to_datetime)
common.string_to_datetime = basic_filter.string_to_datetime = cached
from medallion.scripts.run import main
main()
"""


@dataclass(frozen=True)
class MedallionServer:
    base_url: str  # http://127.0.0.1:PORT/
    api_root_url: str  # .../api1/
    collection_id: str
    username: str
    password: str
    date_added: list[str]  # per object, in the order given
    log: Path  # medallion's output, one line per request


def _stix_timestamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _version(obj: dict[str, Any], date_added: str) -> str:
    return obj.get("modified") or obj.get("created") or date_added


def write_backend_data(
    path: Path, objects: Sequence[dict[str, Any]], *, port: int, step: dt.timedelta
) -> list[str]:
    """Write medallion's memory-backend file: one API root, one collection holding `objects`.

    Object i is "added" at DATE_ADDED_START + i * step, so added_after paging walks the objects in
    the order given. Objects with neither `modified` nor `created` (SCOs) get the hidden
    `_date_added` medallion versions them by; medallion strips it from responses.
    """
    stored, manifest, added = [], [], []
    for index, obj in enumerate(objects):
        date_added = _stix_timestamp(DATE_ADDED_START + index * step)
        added.append(date_added)
        if "modified" not in obj and "created" not in obj:
            obj = {**obj, "_date_added": date_added}
        stored.append(obj)
        spec = obj.get("spec_version", "2.0" if "created" in obj or "modified" in obj else "2.1")
        manifest.append(
            {
                "id": obj["id"],
                "date_added": date_added,
                "version": _version(obj, date_added),
                "media_type": f"application/stix+json;version={spec}",
            }
        )
    media_types = sorted({entry["media_type"] for entry in manifest}) or ["application/stix+json;version=2.1"]
    data = {
        "/discovery": {
            "title": "CRISP test TAXII server",
            "description": "medallion serving test data",
            "contact": "tests@crisp.invalid",
            "default": f"http://127.0.0.1:{port}/{API_ROOT}/",
            "api_roots": [f"http://127.0.0.1:{port}/{API_ROOT}/"],
        },
        API_ROOT: {
            "information": {
                "title": "Test API root",
                "description": "one collection",
                "versions": [TAXII_MEDIA_TYPE],
                "max_content_length": 100 * 1024 * 1024,
            },
            "status": [],
            "collections": [
                {
                    "id": COLLECTION_ID,
                    "title": "Test collection",
                    "description": "objects under test",
                    "can_read": True,
                    "can_write": False,
                    "media_types": media_types,
                    "objects": stored,
                    "manifest": manifest,
                }
            ],
        },
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return added


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_answering(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"medallion exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            response = requests.get(
                url, auth=(USERNAME, PASSWORD), headers={"Accept": TAXII_MEDIA_TYPE}, timeout=1
            )
            if response.status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"medallion did not answer at {url} within {timeout} s")


@contextlib.contextmanager
def medallion_server(
    objects: Sequence[dict[str, Any]],
    workdir: Path,
    *,
    max_page_size: int = 100,
    next_timeout: int = 30,
    step: dt.timedelta = dt.timedelta(seconds=1),
    startup_timeout: float = 30.0,
) -> Iterator[MedallionServer]:
    """Run medallion 3.0.0 (memory backend) on a free 127.0.0.1 port for the duration of the block."""
    port = _free_port()
    data_file = workdir / "medallion-data.json"
    config_file = workdir / "medallion-config.json"
    added = write_backend_data(data_file, objects, port=port, step=step)
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(data_file),
            # How long a `next` token lives, and how often medallion sweeps expired ones.
            "session_timeout": next_timeout,
            "check_interval": max(1, min(10, next_timeout // 3)),
        },
        "users": {USERNAME: PASSWORD},
        "taxii": {"max_page_size": max_page_size},
    }
    config_file.write_text(json.dumps(config), encoding="utf-8")
    command = [sys.executable, "-c", _LAUNCHER, "--host", "127.0.0.1", "--port", str(port)]
    log = workdir / "medallion.log"  # a file, not a pipe: the dev server logs every request
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [*command, str(config_file)], stdout=log_file, stderr=log_file, cwd=workdir
        )
    base_url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_answering(f"{base_url}taxii2/", process, log, startup_timeout)
        yield MedallionServer(
            base_url=base_url,
            api_root_url=f"{base_url}{API_ROOT}/",
            collection_id=COLLECTION_ID,
            username=USERNAME,
            password=PASSWORD,
            date_added=added,
            log=log,
        )
    finally:
        stop(process)
