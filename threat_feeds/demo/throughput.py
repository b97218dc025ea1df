"""Server-only ceiling: how fast one taxii2-client consumer can page through the demo server.

This is the figure benchmarks print beside end-to-end ingest ("the source could go this fast"):
the consumer only fetches and JSON-decodes pages, as any TAXII ingester must, and stores nothing.

    python -m threat_feeds.demo.throughput --objects 100000 --page-size 1000 5000
    python -m threat_feeds.demo.throughput --raw      # the server alone (no JSON decoding)
"""

from __future__ import annotations

import argparse
import http.client
import time
from urllib.parse import urlsplit

import orjson
from taxii2client.v21 import Collection, as_pages

from threat_feeds.demo.taxii_server import ServerConfig, start_in_process, start_in_thread


def fetch_all_ceiling(
    api_root_url: str,
    collection_id: str,
    page_size: int,
    *,
    user: str | None = None,
    password: str | None = None,
    max_objects: int | None = None,
) -> tuple[int, float]:
    """Page through a collection with taxii2-client (``as_pages``): (objects fetched, seconds).

    Times from the first objects request to the last page decoded; the collection-info request
    that taxii2-client makes first is outside the timed span.
    """
    collection = Collection(
        f"{api_root_url.rstrip('/')}/collections/{collection_id}/", user=user, password=password
    )
    _ = collection.can_read  # loads the collection document before the clock starts
    count = 0
    started = time.perf_counter()
    for envelope in as_pages(collection.get_objects, per_request=page_size):
        count += len(envelope.get("objects", ()))
        if max_objects is not None and count >= max_objects:
            break
    return count, time.perf_counter() - started


def fetch_raw_ceiling(api_root_url: str, collection_id: str, page_size: int) -> tuple[int, float]:
    """Page through with bare ``http.client``, reading bytes without decoding JSON: what the server
    alone delivers (the consumer's parsing is the limit in :func:`fetch_all_ceiling`)."""
    url = urlsplit(f"{api_root_url.rstrip('/')}/collections/{collection_id}/objects/")
    conn = http.client.HTTPConnection(url.hostname, url.port)
    headers = {"Accept": "application/taxii+json;version=2.1"}
    query, count = f"limit={page_size}", 0
    started = time.perf_counter()
    while True:
        conn.request("GET", f"{url.path}?{query}", headers=headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
        count += body.count(b'{"type":')  # top-level objects only (nested dicts have no "type")
        head = (
            orjson.loads(body[: body.index(b'"objects":[')].rstrip(b",") + b"}")
            if body.startswith(b'{"more":t')
            else {}
        )
        if not head.get("more"):
            break
        query = f"limit={page_size}&next={head['next']}"
    conn.close()
    return count, time.perf_counter() - started


def measure(
    objects: int,
    page_sizes: list[int],
    *,
    in_process: bool = True,
    repeat: int = 1,
    raw: bool = False,
    warm: bool = False,
    cache_dir: str | None = None,
) -> list[dict]:
    """Start a benchmark server (no delay, no auth, pages up to the largest size) and time fetches."""
    config = ServerConfig(objects=objects, page_max=max(page_sizes), warm=warm, cache_dir=cache_dir)
    running = (start_in_process if in_process else start_in_thread)(config)
    fetch = fetch_raw_ceiling if raw else fetch_all_ceiling
    results = []
    try:
        for page_size in page_sizes:
            for run in range(repeat):
                count, seconds = fetch(running.api_root_url, running.collection_id, page_size)
                results.append(
                    {
                        "page_size": page_size,
                        "run": run + 1,
                        "objects": count,
                        "seconds": round(seconds, 3),
                        "objects_per_s": round(count / seconds),
                    }
                )
    finally:
        running.stop()
    return results


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, default=100_000)
    p.add_argument("--page-size", type=int, nargs="+", default=[1000, 5000])
    p.add_argument("--repeat", type=int, default=2, help="runs per page size (the 2nd hits a warm cache)")
    p.add_argument("--in-thread", action="store_true", help="server in this process (shares the GIL)")
    p.add_argument("--raw", action="store_true", help="consumer reads bytes only (server-side ceiling)")
    p.add_argument("--warm", action="store_true", help="pre-render into the server's memory cache")
    p.add_argument("--cache-dir", default=None, help="serve from a rendered file in this directory")
    ns = p.parse_args(argv)
    mode = "thread (same process)" if ns.in_thread else "separate process"
    consumer = "raw http.client, no JSON decoding" if ns.raw else "taxii2-client as_pages"
    cache = "file" if ns.cache_dir else "warm memory" if ns.warm else "cold (rendered on the fly)"
    print(f"demo TAXII server in a {mode}, {ns.objects} objects, cache: {cache}; consumer: {consumer}")
    rows = measure(
        ns.objects,
        ns.page_size,
        in_process=not ns.in_thread,
        repeat=ns.repeat,
        raw=ns.raw,
        warm=ns.warm,
        cache_dir=ns.cache_dir,
    )
    for row in rows:
        print(
            f"limit={row['page_size']:>5} run {row['run']}: {row['objects']} objects in "
            f"{row['seconds']:.2f} s = {row['objects_per_s']:,} objects/s"
        )


if __name__ == "__main__":
    main()
