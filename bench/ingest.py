"""End-to-end ingest throughput, TAXII 2.1 -> one real Celery worker -> PostgreSQL / SQLite, with
the reference points of SPEC §9 measured in the same run.

For each backend a child process (DATABASE_URL set to that backend) starts the demo TAXII server
in a process of its own (pre-rendered collection, no pacing) and a real worker (`celery worker -P
prefork -c 1`), then queues runs with `feed_run_start` exactly as the API does, page sizes
interleaved, the store flushed before every repetition. A run's time is started_at -> finished_at
from the database; the wall clock is consume -> completed as seen by a 20 ms poller.

Beside it, in this process: the server-only ceiling (taxii2-client paging, no storage),
`json.loads` / `orjson.loads` and `stix2.parse` on the same objects, and PostgreSQL `COPY` and
`executemany` upsert into a table shaped like the store's object table.

    python -m bench.ingest [--quick] [--million] [--repeat 3] [--lanes 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from bench import common

PAGE_SIZES = (1000, 5000)
COPY_TABLE = "bench_copy_target"
COPY_DDL = f"""CREATE TABLE IF NOT EXISTS {COPY_TABLE} (id bigserial PRIMARY KEY, stix_id varchar(255) UNIQUE,
 type varchar(100), spec_version varchar(10), created timestamptz, modified timestamptz, data jsonb,
 first_seen_at timestamptz, updated_at timestamptz)"""
UPSERT = f"""INSERT INTO {COPY_TABLE} (stix_id, type, spec_version, created, modified, data, first_seen_at,
 updated_at) VALUES (%s, %s, %s, %s, %s, %s, now(), now()) ON CONFLICT (stix_id) DO UPDATE SET
 data = excluded.data, modified = excluded.modified, updated_at = excluded.updated_at"""


# --- end to end (child process, one backend) ---------------------------------------------------
def e2e(sizes: list[int], page_sizes: list[int], repeat: int) -> list[dict[str, Any]]:
    common.setup_django()
    from threat_feeds.demo.taxii_server import start_in_process
    from threat_feeds.services.runs import feed_run_start

    rows = []
    with common.celery_worker() as _worker:
        for size in sizes:
            server = start_in_process(common.demo_config(size, max(page_sizes)))
            try:
                for rep in range(repeat if size <= 100_000 else 1):
                    for page_size in page_sizes if size <= 100_000 else page_sizes[-1:]:
                        common.flush_store()
                        feed = common.make_feed(server, page_size=page_size)
                        started = time.perf_counter()
                        run = feed_run_start(feed=feed, user=None)
                        run = common.wait_run(run.pk, poll=0.02)
                        wall = time.perf_counter() - started
                        seconds = (run.finished_at - run.started_at).total_seconds()
                        row = {"objects": size, "page_size": page_size, "rep": rep + 1, "status": run.status,
                               "fetched": run.fetched, "created": run.created, "db_seconds": seconds,
                               "wall_seconds": wall, "objects_per_s": run.fetched / seconds,
                               "wall_objects_per_s": run.fetched / wall}  # fmt: skip
                        common.log(f"  {size:>9,} objects, page {page_size}: {run.status}, {seconds:.2f} s "
                                   f"= {row['objects_per_s']:,.0f}/s (wall {wall:.2f} s)")  # fmt: skip
                        rows.append(row)
            finally:
                server.stop()
    return rows


def run_child(
    backend: str, url: str, sizes: list[int], repeat: int, lanes: int | None = None
) -> list[dict[str, Any]]:
    common.prepare_database(url)
    argv = [
        sys.executable,
        "-m",
        "bench.ingest",
        "--child",
        "--sizes",
        *map(str, sizes),
        "--repeat",
        str(repeat),
    ]
    common.log(
        f"end-to-end into {backend}: sizes {sizes}, page sizes {list(PAGE_SIZES)}, {repeat} repetitions"
        + (f", {lanes} store lane(s)" if lanes else "")
    )
    env = {**os.environ, "DATABASE_URL": url, **({"CRISP_STORE_LANES": str(lanes)} if lanes else {})}
    out = subprocess.run(argv, cwd=common.REPO, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    lines = out.strip().splitlines()
    print("\n".join(lines[:-1]), flush=True)
    label = f"{backend} ({lanes} lane{'s' if lanes > 1 else ''})" if lanes else backend
    return [{**r, "backend": label} for r in json.loads(lines[-1])]


# --- reference points (this process) ---------------------------------------------------------
def ceiling(server: Any, page_size: int, repeat: int) -> list[float]:
    from threat_feeds.demo.throughput import fetch_all_ceiling

    rates = []
    for _ in range(repeat):
        count, seconds = fetch_all_ceiling(server.api_root_url, server.collection_id, page_size)
        rates.append(count / seconds)
    return rates


def raw_pages(server: Any, count: int, page_size: int = 5000) -> list[bytes]:
    import requests

    url = f"{server.api_root_url}collections/{server.collection_id}/objects/"
    headers = {"Accept": "application/taxii+json;version=2.1"}
    pages, fetched, token = [], 0, None
    while fetched < count:
        params = {"limit": page_size, **({"next": token} if token else {})}
        body = requests.get(url, params=params, headers=headers, timeout=60).content
        envelope = json.loads(body)
        pages.append(body)
        fetched += len(envelope["objects"])
        token = envelope.get("next")
        if not envelope.get("more"):
            break
    return pages


def timed_rate(fn: Any, items: int, repeat: int) -> float:
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        rates.append(items / (time.perf_counter() - started))
    return common.median(rates)


def references(server: Any, rows: int, repeat: int) -> dict[str, float]:
    import orjson
    import psycopg
    import stix2

    pages = raw_pages(server, rows)
    objects = [o for body in pages for o in orjson.loads(body)["objects"]][:rows]
    n = len(objects)
    sample = objects[:2000]
    ref = {
        "json.loads": timed_rate(lambda: [json.loads(b) for b in pages], n, repeat),
        "orjson.loads": timed_rate(lambda: [orjson.loads(b) for b in pages], n, repeat),
        "stix2.parse": timed_rate(
            lambda: [stix2.parse(o, allow_custom=True) for o in sample], len(sample), repeat
        ),
    }
    data = [(o["id"], o["type"], o.get("spec_version", ""), o.get("created"), o.get("modified"),
             orjson.dumps(o).decode()) for o in objects]  # fmt: skip
    url = os.environ["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {COPY_TABLE}")
        conn.execute(COPY_DDL)

        def copy() -> None:
            with conn.transaction(), conn.cursor() as cur:
                cmd = f"COPY {COPY_TABLE} (stix_id, type, spec_version, created, modified, data) FROM STDIN"
                with cur.copy(cmd) as cp:
                    for row in data:
                        cp.write_row(row)

        def upsert() -> None:
            with conn.transaction(), conn.cursor() as cur:
                for start in range(0, n, 1000):  # batches of 1,000, one transaction each, as the store does
                    cur.executemany(UPSERT, data[start : start + 1000])

        rates: dict[str, list[float]] = {"postgres COPY": [], "postgres executemany upsert": []}
        for _ in range(repeat):
            for name, fn in (("postgres COPY", copy), ("postgres executemany upsert", upsert)):
                conn.execute(f"TRUNCATE {COPY_TABLE}")
                started = time.perf_counter()
                fn()
                rates[name].append(n / (time.perf_counter() - started))
        conn.execute(f"DROP TABLE {COPY_TABLE}")
    ref.update({k: common.median(v) for k, v in rates.items()})
    return ref


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="10k and 100k objects, no 1M")
    p.add_argument("--million", action="store_true", help="also 1,000,000 objects into PostgreSQL (1 run)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-sqlite", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--lanes", type=int, nargs="+", default=[],
                   help="PostgreSQL store lanes to compare (CRISP_STORE_LANES), alternating per repetition")  # fmt: skip
    ns = p.parse_args(argv)
    if ns.child:
        rows = e2e(ns.sizes, list(PAGE_SIZES), ns.repeat)
        print(json.dumps(rows, default=str))
        return {}
    pg_url = os.environ["DATABASE_URL"]
    if not pg_url.startswith("postgres"):
        sys.exit(
            "bench.ingest: DATABASE_URL must be a PostgreSQL database (the SQLite one is the bench's own)"
        )
    sizes = list(ns.sizes)
    repeat = ns.repeat
    pg_sizes = sizes + ([1_000_000] if ns.million and not ns.quick else [])
    if len(ns.lanes) > 1:  # side by side: one repetition of each in turn, so the noise hits both
        e2e_rows = [row for _ in range(repeat) for lanes in ns.lanes
                    for row in run_child("postgresql", pg_url, pg_sizes, 1, lanes)]  # fmt: skip
    else:
        e2e_rows = run_child("postgresql", pg_url, pg_sizes, repeat, ns.lanes[0] if ns.lanes else None)
    if not ns.no_sqlite:
        e2e_rows += run_child("sqlite", common.SQLITE_URL, sizes, repeat)

    common.setup_django()
    from threat_feeds.demo.taxii_server import start_in_process

    common.log("reference points: server-only ceiling, JSON decoding, stix2.parse, COPY, executemany")
    ceilings: dict[tuple[int, int], float] = {}
    refs: dict[str, float] = {}
    for size in sorted({r["objects"] for r in e2e_rows}):
        server = start_in_process(common.demo_config(size, max(PAGE_SIZES)))
        try:
            for page_size in PAGE_SIZES if size <= 100_000 else PAGE_SIZES[-1:]:
                ceilings[(size, page_size)] = common.median(
                    ceiling(server, page_size, repeat if size <= 100_000 else 1)
                )
            if size == max(sizes):
                refs = references(server, 20_000 if ns.quick else 50_000, repeat)
        finally:
            server.stop()

    table, summary = [], []
    for key in sorted({(r["backend"], r["objects"], r["page_size"]) for r in e2e_rows}):
        runs = [r for r in e2e_rows if (r["backend"], r["objects"], r["page_size"]) == key]
        rate = common.median([r["objects_per_s"] for r in runs])
        wall = common.median([r["wall_objects_per_s"] for r in runs])
        top = ceilings.get(key[1:], float("nan"))
        ok = all(r["status"] == "completed" and r["fetched"] == key[1] for r in runs)
        entry = {"backend": key[0], "objects": key[1], "page_size": key[2], "runs": len(runs), "all_completed": ok,
                 "objects_per_s": rate, "wall_objects_per_s": wall, "min": min(r["objects_per_s"] for r in runs),
                 "max": max(r["objects_per_s"] for r in runs), "ceiling_objects_per_s": top}  # fmt: skip
        summary.append(entry)
        table.append([key[0], key[1], key[2], len(runs), rate, wall, entry["min"], entry["max"], top,
                      f"{100 * rate / top:.1f}%", f"{100 * rate / 50_000:.1f}%"])  # fmt: skip
    common.print_table(
        "end-to-end ingest, objects/s (median of runs; DB started_at->finished_at, and wall clock)",
        ["backend", "objects", "page", "n", "median/s", "wall/s", "min/s", "max/s", "ceiling/s", "of ceiling",
         "of 50k target"],
        table,
    )  # fmt: skip
    common.print_table("reference points, same run (median)", ["measurement", "objects or rows/s"],
                       [[k, v] for k, v in refs.items()])  # fmt: skip
    result = {"quick": ns.quick, "repeat": repeat, "summary": summary, "references": refs, "runs": e2e_rows,
              "ceilings": [{"objects": k[0], "page_size": k[1], "objects_per_s": v} for k, v in ceilings.items()]}  # fmt: skip
    common.save_results("ingest", result)
    return result


if __name__ == "__main__":
    main()
