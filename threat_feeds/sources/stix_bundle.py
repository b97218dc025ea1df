"""STIX bundles (2.0 or 2.1) from a URL or an uploaded file, parsed as a stream so memory stays flat."""

from __future__ import annotations

import contextlib
import gzip
import io
import re
import sys
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import ijson
import requests
import urllib3

from .base import Checkpoint, FeedConfig, Page, Source, SourceError
from .jsonlimits import REJECTED, EntryFilter, FilteredReader, is_rejected
from .netguard import GuardedSession, guarded_stream_session, response_stream

GZIP_MAGIC = b"\x1f\x8b"
HEAD_BYTES = 64 * 1024  # the bundle's `id` is looked for in this much text before `objects`
PARSE_CHUNK = 64 * 1024
RECENT_BYTES = 3 * PARSE_CHUNK  # kept to locate a parse error (the filter hands out uneven chunks)
MAX_PROBLEMS_KEPT = 10
ACCEPT = "application/stix+json, application/json;q=0.9, */*;q=0.5"
_END: Any = object()  # end of `objects[]`


class _InflatedCap(io.RawIOBase):
    """Counts the bytes a (possibly gzip-inflated) bundle yields: a 100 KB gzip can inflate to 100 GB."""

    def __init__(self, body: IO[bytes], *, max_bytes: int, where: str) -> None:
        self._body = body
        self._max_bytes = max_bytes
        self._where = where
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        self.bytes_read += len(data)
        if self.bytes_read > self._max_bytes:
            raise SourceError(
                f"{self._where} inflates to more than {self._max_bytes} bytes (CRISP_MAX_BUNDLE_BYTES).",
                code="response_too_large",
            )
        buffer[: len(data)] = data
        return len(data)


class _CountingReader(io.RawIOBase):
    """Reads `body` after replaying its first bytes; counts bytes and keeps the last chunk to locate errors."""

    def __init__(self, body: IO[bytes]) -> None:
        self._body = body
        self._head = b""
        self.position = 0
        self.recent = b""  # the last bytes read, ending at `position`

    def read_head(self, size: int) -> bytes:
        """The first `size` bytes, which later reads return again."""
        self._head = self._body.read(size)
        return self._head

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            data, self._head = self._head[: len(buffer)], self._head[len(buffer) :]
        else:
            data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        if data:
            self.recent = (self.recent + data)[-RECENT_BYTES:]
        self.position += len(data)
        return len(data)


def _scan_head(head: bytes) -> tuple[str | None, str | None, bool]:
    """(bundle id, top-level type, whether `objects` starts) from the text before `objects`."""
    bundle_id = bundle_type = None
    try:
        for prefix, event, value in ijson.parse(io.BytesIO(head)):
            if prefix == "" and event == "start_array":
                raise SourceError("The file is a JSON array, not a STIX bundle.", code="not_stix")
            if prefix == "id" and event == "string":
                bundle_id = value
            elif prefix == "type" and event == "string":
                bundle_type = value
            elif prefix == "objects" and event == "start_array":
                return bundle_id, bundle_type, True
    except ijson.JSONError:
        pass  # `head` is cut mid-document, or malformed: the full parse reports it with its offset
    return bundle_id, bundle_type, False


def _error_offset(message: str, reader: _CountingReader) -> str:
    """Where a yajl parse error is: exact when its context snippet is found in the text last read."""
    if "premature EOF" in message:
        return f"at byte {reader.position} (the text ends early)"
    start = reader.position - len(reader.recent)
    lines = message.splitlines()
    if len(lines) >= 3 and "^" in lines[2]:
        snippet = lines[1].lstrip()
        column = lines[2].index("^") - (len(lines[1]) - len(snippet))
        before = snippet[:column].encode("utf-8", "replace")
        if 0 < column <= len(snippet) and before.strip():
            # yajl shows newlines and tabs as spaces.
            pattern = b"".join(rb"\s" if byte == 0x20 else re.escape(bytes([byte])) for byte in before)
            matches = list(re.finditer(pattern, reader.recent))
            if len(matches) == 1:  # yajl points just past the offending token
                return f"near byte {start + matches[0].end() - 1}"
    return f"between bytes {start} and {reader.position}"


class StixBundleSource(Source):
    """Reads `objects[]` of one bundle page by page; the cursor is the count of entries consumed."""

    source_type = "stix_bundle"

    def __init__(self, config: FeedConfig, checkpoint: Checkpoint) -> None:
        super().__init__(config, checkpoint)
        self._session: GuardedSession | None = None
        self._filter: EntryFilter | None = None

    @property
    def location(self) -> str:
        return str(self.config.settings.get("upload_path") or self.config.url)

    def pages(self, cursor: Mapping[str, Any]) -> Iterator[Page]:
        self.checkpoint.stage("connecting")
        with self._open() as raw:
            inflated = _InflatedCap(
                self._decompressed(raw), max_bytes=self.config.max_bundle_bytes, where=self.location
            )
            # Objects too deep or too large become markers before ijson builds anything.
            # Bytes and values are bounded per page in _paginate, not over the whole stream.
            limits = self.config.json_limits(max_bytes=self.config.max_bundle_bytes, max_values=sys.maxsize)
            self._filter = EntryFilter(limits, where=self.location)
            reader = _CountingReader(FilteredReader(io.BufferedReader(inflated, PARSE_CHUNK), self._filter))
            with self._translated_errors(reader):
                bundle_id, bundle_type, saw_objects = _scan_head(reader.read_head(HEAD_BYTES))
                if bundle_type not in (None, "bundle"):
                    raise SourceError(
                        f"{self.location} holds a {bundle_type!r}, not a STIX bundle.", code="not_stix"
                    )
                skip = 0
                if (
                    bundle_id is not None
                    and cursor.get("bundle_id") == bundle_id
                    and not cursor.get("completed")
                ):
                    skip = int(cursor.get("offset") or 0)
                self.checkpoint.stage("fetching")
                entries = ijson.items(
                    io.BufferedReader(reader, buffer_size=PARSE_CHUNK),
                    "objects.item",
                    use_float=True,
                    buf_size=PARSE_CHUNK,
                )
                yield from self._paginate(entries, bundle_id=bundle_id, skip=skip, saw_objects=saw_objects)

    @contextlib.contextmanager
    def _translated_errors(self, reader: _CountingReader) -> Iterator[None]:
        """Parse and transport failures while reading, as SourceErrors that say where."""
        try:
            yield
        except ijson.JSONError as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else "invalid JSON"
            raise SourceError(
                f"{self.location} is not valid JSON {_error_offset(str(exc), reader)}: {first_line}",
                code="malformed_json",
            ) from exc
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise SourceError(
                f"{self.location} is a corrupt gzip file: {exc}", code="malformed_gzip"
            ) from exc
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            self.checkpoint("after_request")  # an aborted read lands here: report the stop
            raise SourceError(f"Reading {self.location} failed: {exc}", code="network_error") from exc

    def _paginate(
        self, entries: Iterator[Any], *, bundle_id: str | None, skip: int, saw_objects: bool
    ) -> Iterator[Page]:
        consumed = 0
        for _ in range(skip):
            if next(entries, None) is None:
                break  # the bundle shrank since the cursor was saved: nothing left to read
            consumed += 1
        pending = next(entries, _END)
        if pending is _END and not saw_objects and consumed == 0:
            raise SourceError(f"{self.location} has no 'objects' array: not a STIX bundle.", code="not_stix")
        pages = 0
        while True:
            self.checkpoint("before_page")
            pages += 1
            if pages > self.config.max_pages:
                raise SourceError(
                    f"{self.location} holds more than {self.config.max_pages} pages of objects; stopped.",
                    code="too_many_pages",
                )
            objects: list[dict[str, Any]] = []
            problems: list[str] = []
            skipped = 0
            # A page also ends after about max_response_bytes of JSON, so its memory is bounded
            # whatever the objects' sizes (the filter caps each object at max_object_bytes).
            page_start = self._filter.total if self._filter is not None else 0
            page_values = self._filter.values if self._filter is not None else 0
            while pending is not _END and len(objects) + skipped < self.config.page_size:
                over_budget = self._filter is not None and (
                    self._filter.total - page_start > self.config.max_response_bytes
                    or self._filter.values - page_values > self.config.max_json_values
                )
                if over_budget and (objects or skipped):
                    break
                if is_rejected(pending):  # every one is kept: each counts as an invalid object
                    skipped += 1
                    problems.append(f"objects[{consumed}] is {pending[REJECTED]}; skipped")
                elif isinstance(pending, dict):
                    objects.append(pending)
                else:
                    skipped += 1
                    if len(problems) < MAX_PROBLEMS_KEPT:
                        problems.append(
                            f"objects[{consumed}] is a JSON {type(pending).__name__}, not an object; skipped"
                        )
                consumed += 1
                pending = next(entries, _END)  # look ahead, so the last page is known to be last
            if pending is _END:
                cursor = {"offset": 0, "bundle_id": bundle_id, "completed": True}
                yield Page(objects=objects, cursor=cursor, problems=problems)
                return
            yield Page(
                objects=objects, cursor={"offset": consumed, "bundle_id": bundle_id}, problems=problems
            )

    def _decompressed(self, raw: io.BufferedReader) -> IO[bytes]:
        if raw.peek(2)[:2] == GZIP_MAGIC:
            return gzip.GzipFile(fileobj=raw, mode="rb")
        return raw

    @contextlib.contextmanager
    def _open(self) -> Iterator[io.BufferedReader]:
        upload_path = self.config.settings.get("upload_path")
        if upload_path:
            try:
                with open(Path(upload_path), "rb") as file:
                    yield file
            except FileNotFoundError as exc:
                raise SourceError(
                    f"Uploaded bundle {upload_path} is missing.", code="file_not_found"
                ) from exc
            return
        response = self._get()
        try:
            yield response_stream(response)
        finally:
            response.close()

    def _get(self) -> requests.Response:
        if self._session is None:
            self._session = guarded_stream_session(self.config)
            if self.config.api_key:
                header = str(self.config.settings.get("api_key_header", "Authorization"))
                self._session.headers[header] = (
                    str(self.config.settings.get("api_key_prefix", "")) + self.config.api_key
                )
                self._session.credential_headers.add(header)
            elif self.config.username or self.config.password:
                self._session.auth = (self.config.username, self.config.password)
        self.checkpoint("before_request")
        try:
            response = self._session.get(self.config.url, stream=True, headers={"Accept": ACCEPT})
        except requests.RequestException as exc:
            self.checkpoint("after_request")
            raise SourceError(f"Cannot fetch {self.config.url}: {exc}", code="network_error") from exc
        self.checkpoint("after_request")
        if response.status_code != 200:
            response.close()
            code = "auth_failed" if response.status_code in (401, 403) else "http_error"
            raise SourceError(f"{self.config.url} answered HTTP {response.status_code}.", code=code)
        return response

    def abort(self) -> None:
        """Unblock a read in progress (from another thread) so a stop is honoured at once."""
        if self._session is not None:
            self._session.abort()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
