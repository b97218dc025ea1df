"""Depth and size limits on feed JSON, applied to the raw bytes before any parser builds objects.

A parser must never see hostile nesting: ijson's C backend keeps a path string per level (memory
quadratic in depth: 2 MB of `[[[[` took a worker to 17 GB), orjson refuses more than 255 levels on
dumps and 1,024 on loads, and Python objects cost 10-25 times their JSON text. So every body is
scanned first, one regex match per bracket: an *entry* (a value inside a depth-2 container, i.e. an
item of a bundle's or envelope's `objects`, an OTX page's `results`) nested deeper than the limit
or larger than the object limit is replaced by a small marker object naming the reason. The source
turns markers into per-object problems, so the rest of the page goes on. Whole-body limits (bytes,
JSON values) fail the page with `response_too_large`.
"""

from __future__ import annotations

import io
import itertools
import re
from dataclasses import dataclass
from typing import IO, Any

import orjson

from .base import SourceError

REJECTED = "__crisp_rejected__"
ENTRY_DEPTH = 3  # `{` bundle/envelope = 1, `[` objects = 2, an object = 3
READ_CHUNK = 64 * 1024

_STRING = rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
# Everything up to and including the next bracket outside strings (possessive: no backtracking).
_TOKEN = re.compile(rb'(?:[^"\[\]{}]++|' + _STRING + rb")*+([\[\]{}])", re.DOTALL)
_REST = re.compile(rb'(?:[^"\[\]{}]++|' + _STRING + rb")*+", re.DOTALL)
_STRING_TAIL = re.compile(rb'[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)  # the rest of an open string
_STRING_BODY = re.compile(rb'[^"\\]*+(?:\\.[^"\\]*+)*+', re.DOTALL)
_OPENERS = frozenset(b"[{")


@dataclass(frozen=True, slots=True)
class JsonLimits:
    max_depth: int = 64  # levels inside one entry (a STIX object is rarely deeper than 6)
    max_object_bytes: int = 8 * 1024 * 1024  # one entry's JSON text
    max_bytes: int = 64 * 1024 * 1024  # a whole body (inflated)
    max_values: int = 4_000_000  # JSON values (approximated by , [ { ) in a whole body


def marker(reason: str) -> bytes:
    return orjson.dumps({REJECTED: reason})


def is_rejected(entry: Any) -> bool:
    return isinstance(entry, dict) and REJECTED in entry and len(entry) == 1


class EntryFilter:
    """Streaming byte filter: passes JSON through, replacing entries over the limits by markers."""

    def __init__(self, limits: JsonLimits, *, where: str) -> None:
        self.limits = limits
        self.where = where
        self.depth = 0
        self.total = 0  # bytes fed
        self.values = 0
        self.rejected = 0
        self.last_reason = ""
        self._in_string = False
        self._escape = False
        self._string_start = 0
        self._entry_start: int | None = None  # stream offset of the open entry's first byte
        self._entry_reason: str | None = None
        self._held: list[bytes] = []  # the open entry's bytes, until it is known to be acceptable

    def _too_large(self, what: str) -> SourceError:
        return SourceError(f"{self.where}: {what}.", code="response_too_large")

    def feed(self, data: bytes) -> bytes:
        base = self.total
        self.total += len(data)
        if self.total > self.limits.max_bytes:
            raise self._too_large(f"the JSON exceeds the {self.limits.max_bytes}-byte limit")
        self.values += data.count(b",") + data.count(b"{") + data.count(b"[")
        if self.values > self.limits.max_values:
            raise self._too_large(f"the JSON holds more than {self.limits.max_values} values")
        out: list[bytes] = []
        emit = 0  # start of the part of `data` not yet emitted or held
        pos = 0
        n = len(data)
        if self._in_string:
            if self._escape and n:
                pos, self._escape = 1, False
            match = _STRING_TAIL.match(data, pos)
            if match is None:
                self._escape = _STRING_BODY.match(data, pos).end() == n - 1  # type: ignore[union-attr]
                if (
                    self._entry_start is None
                    and self.total - self._string_start > self.limits.max_object_bytes
                ):
                    raise self._too_large(
                        f"a JSON string exceeds the {self.limits.max_object_bytes}-byte limit"
                    )
                return self._chunk_end(data, emit, out)
            pos = match.end()
            self._in_string = False
        entry_depth = ENTRY_DEPTH
        max_depth = self.limits.max_depth + entry_depth - 1
        depth = self.depth  # a local in the loop: it runs once per bracket
        token, openers = _TOKEN.match, _OPENERS
        while (match := token(data, pos)) is not None:
            pos = match.end()
            if data[pos - 1] in openers:
                depth += 1
                if depth == entry_depth:
                    if emit < pos - 1:
                        out.append(data[emit : pos - 1])
                    emit = pos - 1
                    self._entry_start = base + emit
                elif depth > max_depth and self._entry_reason is None:
                    self._reject(f"nested deeper than {self.limits.max_depth} levels")
            else:
                depth -= 1
                if depth == entry_depth - 1 and self._entry_start is not None:
                    size = base + pos - self._entry_start
                    if self._entry_reason is None and size > self.limits.max_object_bytes:
                        self._reject(f"larger than {self.limits.max_object_bytes} bytes")
                    if self._entry_reason is None:
                        out.extend(self._held)
                        out.append(data[emit:pos])
                    else:
                        out.append(marker(self._entry_reason))
                    self._held, self._entry_start, self._entry_reason = [], None, None
                    emit = pos
        self.depth = depth
        end = _REST.match(data, pos).end()  # type: ignore[union-attr]
        if end < n:  # a string opens here and goes on in the next chunk
            self._in_string = True
            self._string_start = base + end
            self._escape = _STRING_BODY.match(data, end + 1).end() == n - 1  # type: ignore[union-attr]
        return self._chunk_end(data, emit, out)

    def _reject(self, reason: str) -> None:
        self._entry_reason = self.last_reason = reason
        self._held = []
        self.rejected += 1

    def _chunk_end(self, data: bytes, emit: int, out: list[bytes]) -> bytes:
        if self._entry_start is None:
            out.append(data[emit:])
        elif self._entry_reason is None:
            if self.total - self._entry_start > self.limits.max_object_bytes:
                self._reject(f"larger than {self.limits.max_object_bytes} bytes")
            else:
                self._held.append(data[emit:])
        return b"".join(out)

    def finish(self) -> bytes:
        """What is still held at the end of the body (only in malformed JSON): let the parser see it."""
        held, self._held = b"".join(self._held), []
        return held


_NOT_QUOTES_OR_BRACKETS = bytes(range(256)).translate(None, b'"[]{}')
_DELTA = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _max_depth(content: bytes) -> int:
    """The deepest nesting of `content` (exact for valid JSON; malformed JSON fails in the parser).

    Byte operations only (a regex over the page cost more than parsing it): drop escaped
    backslashes, then escaped quotes, so every quote left delimits a string; keep quotes and
    brackets; the brackets outside strings are the even pieces between quotes."""
    if b"\\" in content:
        content = content.replace(b"\\\\", b"").replace(b'\\"', b"")
    kept = content.translate(None, _NOT_QUOTES_OR_BRACKETS)
    brackets = b"".join(kept.split(b'"')[::2])
    return max(itertools.accumulate(map(_DELTA.__getitem__, brackets)), default=0)


def parse_limited(content: bytes, limits: JsonLimits, *, where: str, whole: bool = False) -> Any:
    """`content` parsed with orjson after the entry filter; raises ValueError if it is not JSON.

    `whole`: the body is one object (a VirusTotal answer), so a part over the limits fails it all.
    """
    if content.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark, which requests' .json() skipped
        content = content[3:]
    if len(content) <= limits.max_object_bytes and _max_depth(content) <= limits.max_depth + ENTRY_DEPTH - 1:
        # The common case, three times faster than the filter: no object can be too large or too deep.
        if content.count(b",") + content.count(b"{") + content.count(b"[") > limits.max_values:
            raise SourceError(f"{where}: the JSON holds more than {limits.max_values} values.",
                              code="response_too_large")  # fmt: skip
        return orjson.loads(content)
    guard = EntryFilter(limits, where=where)
    filtered = guard.feed(content) + guard.finish()
    if guard.rejected and whole:
        raise SourceError(f"{where}: a part of the JSON is {guard.last_reason}.", code="response_too_large")
    return orjson.loads(filtered if guard.rejected else content)


def rejection_problems(entries: list[Any], *, name: str) -> tuple[list[Any], list[str]]:
    """Split markers out of a parsed list: (the other entries, one problem per marker)."""
    if not any(is_rejected(entry) for entry in entries):
        return entries, []
    kept: list[Any] = []
    problems: list[str] = []
    for index, entry in enumerate(entries):
        if is_rejected(entry):
            problems.append(f"{name}[{index}] is {entry[REJECTED]}; skipped")
        else:
            kept.append(entry)
    return kept, problems


class FilteredReader(io.RawIOBase):
    """A binary file whose bytes went through an EntryFilter (for ijson on a streamed bundle)."""

    def __init__(self, body: IO[bytes], guard: EntryFilter) -> None:
        self._body = body
        self.guard = guard
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._done:
            data = self._body.read(READ_CHUNK)
            if data:
                self._pending = self.guard.feed(data)
            else:
                self._pending, self._done = self.guard.finish(), True
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size
