"""Bounded cache of rendered collection chunks, with read-ahead.

The server never serialises objects per request: entries are rendered once per chunk of
``CHUNK`` into a single comma-joined blob plus an offset table, and a page is a handful of slices
of those blobs. The cache is an LRU under a byte budget, so a 1,000,000-object collection streams
through in bounded memory; a read-ahead thread renders the next page while the consumer parses
the current one (real overlap when the server has a process of its own).
"""

from __future__ import annotations

import mmap
import os
import queue
import threading
from array import array
from collections import OrderedDict
from itertools import accumulate, islice
from pathlib import Path

from threat_feeds.demo.generator import GENERATOR_REVISION, DemoCollection

CHUNK = 500


class ChunkCache:
    """Rendered ``CHUNK``-entry blobs of one collection, least recently used evicted first."""

    def __init__(self, collection: DemoCollection, budget_bytes: int = 256 * 1024 * 1024) -> None:
        self.collection = collection
        self.budget = budget_bytes
        self.used = 0
        self.rendered = 0  # chunks rendered so far (tests and tuning)
        self._chunks: OrderedDict[int, tuple[bytes, array]] = OrderedDict()
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[int, int] | None] = queue.Queue(maxsize=4)
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def _render(self, k: int) -> tuple[bytes, array]:
        texts = self.collection.render_range(k * CHUNK, (k + 1) * CHUNK)
        blob = ",".join(texts).encode()
        # offsets[j] = start of entry j; a sentinel one past the trailing (absent) comma
        offsets = array("Q", accumulate((len(t) + 1 for t in texts), initial=0))
        return blob, offsets

    def chunk(self, k: int) -> tuple[bytes, array]:
        with self._lock:
            hit = self._chunks.get(k)
            if hit is not None:
                self._chunks.move_to_end(k)
                return hit
            hit = self._render(k)
            self.rendered += 1
            self._chunks[k] = hit
            self.used += len(hit[0])
            while self.used > self.budget and len(self._chunks) > 1:
                _, (old, _) = self._chunks.popitem(last=False)
                self.used -= len(old)
            return hit

    def join(self, start: int, stop: int) -> bytes:
        """Entries ``start..stop`` as ``obj,obj,...`` (empty when the range is empty)."""
        stop = min(stop, self.collection.size)
        if start >= stop:
            return b""
        pieces = []
        for k in range(start // CHUNK, (stop - 1) // CHUNK + 1):
            blob, offsets = self.chunk(k)
            a = max(start - k * CHUNK, 0)
            b = min(stop - k * CHUNK, len(offsets) - 1)
            pieces.append(memoryview(blob)[offsets[a] : offsets[b] - 1])
        return b",".join(pieces)

    def prefetch(self, start: int, stop: int) -> None:
        """Ask the read-ahead thread to render ``start..stop``; dropped if it is busy."""
        if start >= self.collection.size:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="demo-taxii-prefetch", daemon=True)
            self._thread.start()
        try:
            self._queue.put_nowait((start, stop))
        except queue.Full:
            pass

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            start, stop = item
            last = min(stop, self.collection.size) - 1
            for k in range(start // CHUNK, last // CHUNK + 1):
                if self._closed.is_set():
                    return
                self.chunk(k)

    def warm(self) -> int:
        """Render from the start until the collection or the budget ends; returns entries cached."""
        k = 0
        while k * CHUNK < self.collection.size and self.used + (self.used // max(k, 1)) <= self.budget:
            self.chunk(k)
            k += 1
        return min(k * CHUNK, self.collection.size)

    def close(self) -> None:
        self._closed.set()
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass


class RenderedFile:
    """The whole collection rendered once to ``directory`` and served from an mmap.

    For benchmarks over large collections: after the first start (about 10 s per million objects)
    serving costs the server almost no CPU, and the data lives in the OS page cache rather than
    in the process (only 8 bytes of offset per entry are held). Files are keyed by generator
    revision, seed, size and edition, written atomically, and reused by later starts.
    """

    def __init__(self, collection: DemoCollection, directory: str | os.PathLike) -> None:
        self.collection = collection
        c = collection
        key = f"crisp-demo-r{GENERATOR_REVISION}-s{c.seed}-n{c.objects}-v{c.version}"
        data, index = Path(directory) / f"{key}.jsonl", Path(directory) / f"{key}.idx"
        if not (data.exists() and index.exists()):
            self._build(data, index)
        self.offsets = array("Q")
        self.offsets.frombytes(index.read_bytes())
        self._file = data.open("rb")
        size = os.fstat(self._file.fileno()).st_size
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if size else None

    def _build(self, data: Path, index: Path) -> None:
        data.parent.mkdir(parents=True, exist_ok=True)
        offsets = array("Q", [0])
        tmp_data, tmp_index = (p.with_name(f"{p.name}.tmp{os.getpid()}") for p in (data, index))
        with tmp_data.open("wb") as out:
            for start in range(0, self.collection.size, 10 * CHUNK):
                texts = self.collection.render_range(start, start + 10 * CHUNK)
                out.write((",".join(texts) + ",").encode())
                offsets.extend(islice(accumulate((len(t) + 1 for t in texts), initial=offsets[-1]), 1, None))
        tmp_index.write_bytes(offsets.tobytes())
        os.replace(tmp_data, data)
        os.replace(tmp_index, index)

    def join(self, start: int, stop: int) -> bytes:
        stop = min(stop, self.collection.size)
        if start >= stop or self._map is None:
            return b""
        return self._map[self.offsets[start] : self.offsets[stop] - 1]

    def prefetch(self, start: int, stop: int) -> None:
        """Nothing to do: everything is rendered already."""

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
        self._file.close()
