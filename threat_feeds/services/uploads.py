"""Uploaded bundles: stored under a server-chosen path per feed, capped, checked as JSON, removed with the feed.

A feed's upload lives at VAR_DIR/uploads/<feed id>/<uuid>.json; only `ThreatFeed.upload_file` (never
user input) says which file a run reads.
"""

from __future__ import annotations

import gzip
import shutil
import uuid
import zlib
from pathlib import Path
from typing import IO, Any

import ijson
from django.conf import settings
from django.db import transaction

from threat_feeds.errors import CrispError, InvalidInput
from threat_feeds.models import ThreatFeed

GZIP_MAGIC = b"\x1f\x8b"
COPY_CHUNK = 1024 * 1024


class PayloadTooLarge(CrispError):
    code = "too_large"
    status_code = 413


def uploads_root() -> Path:
    return Path(settings.VAR_DIR) / "uploads"


def feed_upload_dir(feed_id: int) -> Path:
    return uploads_root() / str(int(feed_id))


def feed_upload_path(feed: ThreatFeed) -> Path | None:
    """The absolute path of the feed's uploaded bundle, or None; always inside uploads_root()."""
    if not feed.upload_file:
        return None
    root = uploads_root().resolve()
    path = (Path(settings.VAR_DIR) / feed.upload_file).resolve()
    if not path.is_relative_to(root):
        return None  # never happens for server-written values; refuse rather than read elsewhere
    return path


class _CappedReader:
    """A file-like view of `raw` that refuses to give more than `limit` bytes (inflated gzip included)."""

    def __init__(self, raw: IO[bytes], limit: int, what: str) -> None:
        self._raw, self._limit, self._what, self.count = raw, limit, what, 0

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""  # ijson probes the file type with read(0)
        data = self._raw.read(size if size > 0 else COPY_CHUNK)
        self.count += len(data)
        if self.count > self._limit:
            raise PayloadTooLarge(f"The {self._what} exceeds the {self._limit}-byte limit.")
        return data


def validate_bundle_json(path: Path) -> None:
    """Stream-check that `path` (plain or gzip) is one JSON object nested at most CRISP_MAX_JSON_DEPTH deep.

    ijson's event parser keeps no tree, so memory stays flat whatever the nesting; the depth limit
    stops a bundle that would blow up the worker later.
    """
    max_depth = settings.CRISP_MAX_JSON_DEPTH
    limit = settings.CRISP_MAX_UPLOAD_BYTES
    with path.open("rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        reader = _CappedReader(stream, limit, "inflated bundle" if compressed else "bundle")
        depth = 0
        seen = False
        try:
            for prefix, event, value in ijson.parse(reader, buf_size=COPY_CHUNK):
                if event in ("start_map", "start_array"):
                    if not seen and event != "start_map":
                        raise InvalidInput("The file is not a JSON object (a STIX bundle).", code="not_stix")
                    seen = True
                    depth += 1
                    if depth > max_depth:
                        raise InvalidInput(
                            f"The bundle nests JSON deeper than {max_depth} levels.", code="too_deep"
                        )
                elif event in ("end_map", "end_array"):
                    depth -= 1
                elif not seen:
                    raise InvalidInput("The file is not a JSON object (a STIX bundle).", code="not_stix")
                elif prefix == "type" and event == "string" and value != "bundle":
                    raise InvalidInput(
                        f"The file holds a {value[:50]!r}, not a STIX bundle.", code="not_stix"
                    )
        except ijson.JSONError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "invalid JSON"
            raise InvalidInput(f"The file is not valid JSON: {first[:200]}", code="malformed_json") from exc
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise InvalidInput(f"The file is a corrupt gzip file: {exc}", code="malformed_gzip") from exc
        if not seen:
            raise InvalidInput("The file is empty.", code="malformed_json")


def feed_store_upload(feed: ThreatFeed, upload: Any) -> Path:
    """Keep an uploaded bundle as the feed's own file, replacing the previous one; 400/413 at once."""
    limit = settings.CRISP_MAX_UPLOAD_BYTES
    if upload.size is not None and upload.size > limit:
        raise PayloadTooLarge(f"The upload exceeds the {limit}-byte limit (CRISP_MAX_UPLOAD_BYTES).")
    folder = feed_upload_dir(feed.pk)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4()}.json"
    partial = folder / f"{name}.part"
    try:
        written = 0
        with partial.open("wb") as out:
            for chunk in upload.chunks():
                written += len(chunk)
                if written > limit:
                    raise PayloadTooLarge(
                        f"The upload exceeds the {limit}-byte limit (CRISP_MAX_UPLOAD_BYTES)."
                    )
                out.write(chunk)
        validate_bundle_json(partial)
        path = folder / name
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    with transaction.atomic():
        locked = ThreatFeed.objects.select_for_update().get(pk=feed.pk)
        previous = feed_upload_path(locked)
        locked.upload_file = str(path.relative_to(settings.VAR_DIR))
        locked.save(update_fields=["upload_file", "updated_at"])
    feed.upload_file = locked.upload_file
    # A run that opened the previous file keeps reading it (POSIX keeps an open file alive).
    if previous is not None and previous != path:
        previous.unlink(missing_ok=True)
    return path


def remove_uploads_of_deleted_feed(sender: Any, instance: ThreatFeed, **kwargs: Any) -> None:
    """post_delete receiver: however a feed is deleted (API, admin, shell), its files go after commit."""
    feed_id, upload_file = instance.pk, instance.upload_file
    transaction.on_commit(lambda: feed_uploads_delete(feed_id, upload_file))


def feed_uploads_delete(feed_id: int, upload_file: str = "") -> None:
    """Remove a deleted feed's files (its folder, and a legacy file elsewhere under uploads/)."""
    shutil.rmtree(feed_upload_dir(feed_id), ignore_errors=True)
    if upload_file:
        root = uploads_root().resolve()
        legacy = (Path(settings.VAR_DIR) / upload_file).resolve()
        if legacy.is_relative_to(root) and legacy.parent != root:
            shutil.rmtree(legacy.parent, ignore_errors=True)
