"""What-if experiments for the lead: the same worker code path on copies of the schema with one
database-side change each, so the effect of a fix can be weighed before anyone writes it.

Each variant is its own database (crisp_bench_whatif_<variant>, migrated, then altered); product
code is untouched. Per repetition, variants run interleaved, each in a fresh child process that
runs `feed_run_execute` in-process on N objects from the demo TAXII server (own process) and then
`run_rollback` of that run, timing the time spent in COMMIT separately.

Variants:
  baseline       the schema as migrated
  no_fk          no FOREIGN KEY constraints left on the store tables (Django makes them DEFERRABLE
                 INITIALLY DEFERRED: one RI check per row and key at COMMIT)
  lean_indexes   indexes that another index already covers (prefix or duplicate) and the
                 varchar_pattern_ops twins dropped
  async_commit   synchronous_commit=off for the worker's session (PGOPTIONS)
  all            the three together

    python -m bench.whatif [--quick] [--objects 30000] [--repeat 3]
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

VARIANTS = ("baseline", "no_fk", "lean_indexes", "async_commit", "all")
STORE_TABLES = (
    "threat_feeds_stixobject",
    "threat_feeds_stixobjectversion",
    "threat_feeds_objectprovenance",
    "threat_feeds_indicator",
    "threat_feeds_indicatorprovenance",
)


def redundant_indexes(conn: Any) -> list[str]:
    """Non-unique indexes of the store tables whose keys (and operator classes) are a prefix of
    another index's, exact duplicates, and varchar_pattern_ops twins (only for LIKE 'x%')."""
    rows = conn.execute(
        "SELECT c.relname, t.relname, i.indisunique OR i.indisprimary, i.indkey::text, i.indclass::text "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
        "WHERE t.relname = ANY(%s) ORDER BY c.relname",
        [list(STORE_TABLES)],
    ).fetchall()
    found = []
    for name, table, unique, keys, classes in rows:
        mine = list(zip(keys.split(), classes.split(), strict=True))
        if unique:
            continue
        if name.endswith("_like"):
            found.append(name)
            continue
        for other, other_table, _u, other_keys, other_classes in rows:
            theirs = list(zip(other_keys.split(), other_classes.split(), strict=True))
            covered = theirs[: len(mine)] == mine and (len(theirs) > len(mine) or other < name)
            if other != name and other_table == table and covered:
                found.append(name)
                break
    return found


def prepare(variant: str) -> tuple[str, list[str]]:
    """Migrated database for a variant, and what was dropped from it."""
    import psycopg

    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    url = f"{base}/crisp_bench_whatif_{variant}"
    common.prepare_database(url)  # dropped and migrated afresh
    dropped: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        if variant in ("no_fk", "all"):
            for table in STORE_TABLES:
                for (name,) in conn.execute(
                    "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid = %s::regclass",
                    [table],
                ).fetchall():
                    conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
                    dropped.append(f"FK {table}.{name}")
        if variant in ("lean_indexes", "all"):
            for name in redundant_indexes(conn):
                conn.execute(f'DROP INDEX "{name}"')
                dropped.append(f"index {name}")
    return url, dropped


def child(objects: int, page_size: int) -> dict[str, Any]:
    """One run of the worker's code path in this process; prints its figures as JSON."""
    common.setup_django()
    from django.db import connections

    from threat_feeds.control.rollback import run_rollback
    from threat_feeds.demo.taxii_server import start_in_process
    from threat_feeds.models import FeedRun
    from threat_feeds.services.runs import feed_run_execute

    wrapper_class = type(connections["default"])  # patched on the class: every thread's connection
    spent = {"commit": 0.0}
    original = wrapper_class._commit

    def timed_commit(self: Any) -> None:
        started = time.perf_counter()
        try:
            original(self)
        finally:
            spent["commit"] += time.perf_counter() - started

    wrapper_class._commit = timed_commit  # type: ignore[method-assign]
    server = start_in_process(common.demo_config(objects, page_size))
    try:
        common.flush_store()
        run = FeedRun.objects.create(feed=common.make_feed(server, page_size=page_size), cursor_before={})
        started = time.perf_counter()
        status = feed_run_execute(run_id=run.pk, hostname="whatif")
        ingest_s, ingest_commit = time.perf_counter() - started, spent["commit"]
        started = time.perf_counter()
        removed = run_rollback(run.pk).removed
        rollback_s, rollback_commit = time.perf_counter() - started, spent["commit"] - ingest_commit
    finally:
        server.stop()
    run.refresh_from_db()
    return {"status": status, "fetched": run.fetched, "objects_per_s": run.fetched / ingest_s, "ingest_s": ingest_s,
            "ingest_commit_s": ingest_commit, "rollback_s": rollback_s, "rollback_commit_s": rollback_commit,
            "removed": removed}  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, default=30_000)
    p.add_argument("--page-size", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="20,000 objects, 2 repetitions")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ns = p.parse_args(argv)
    objects = 20_000 if ns.quick else ns.objects
    repeat = 2 if ns.quick else ns.repeat
    if ns.child:
        print(json.dumps(child(objects, ns.page_size)))
        return {}
    prepared = {v: prepare(v) for v in VARIANTS}
    urls = {v: url for v, (url, _dropped) in prepared.items()}
    for variant, (_url, dropped) in prepared.items():
        common.log(f"  {variant}: dropped {', '.join(dropped) or 'nothing'}")
    rows: list[dict[str, Any]] = []
    for rep in range(repeat):
        for variant in VARIANTS:
            env = {**os.environ, "DATABASE_URL": urls[variant]}
            if variant in ("async_commit", "all"):
                env["PGOPTIONS"] = "-c synchronous_commit=off"
            argv_child = [sys.executable, "-m", "bench.whatif", "--child", "--objects", str(objects),
                          "--page-size", str(ns.page_size)]  # fmt: skip
            out = subprocess.run(
                argv_child, cwd=common.REPO, env=env, check=True, stdout=subprocess.PIPE, text=True
            )
            row = {"variant": variant, "rep": rep + 1, **json.loads(out.stdout.strip().splitlines()[-1])}
            common.log(f"  {variant:<13} rep {rep + 1}: {row['objects_per_s']:,.0f} objects/s, commit "
                       f"{row['ingest_commit_s']:.2f} s of {row['ingest_s']:.2f} s; rollback {row['rollback_s']:.2f} s")  # fmt: skip
            rows.append(row)
    base = common.median([r["objects_per_s"] for r in rows if r["variant"] == "baseline"])
    summary = []
    for variant in VARIANTS:
        mine = [r for r in rows if r["variant"] == variant]
        med = {k: common.median([r[k] for r in mine]) for k in ("objects_per_s", "ingest_commit_s", "ingest_s",
                                                               "rollback_s", "rollback_commit_s")}  # fmt: skip
        summary.append({"variant": variant, **med, "speedup": med["objects_per_s"] / base})
    common.print_table(
        f"what-if: feed_run_execute on {objects:,} objects + run_rollback of that run (median of {repeat})",
        ["variant", "objects/s", "x baseline", "ingest s", "commit s", "rollback s", "rollback commit s"],
        [[s["variant"], s["objects_per_s"], f"{s['speedup']:.2f}x", round(s["ingest_s"], 2),
          round(s["ingest_commit_s"], 2), round(s["rollback_s"], 2), round(s["rollback_commit_s"], 2)]
         for s in summary],
    )  # fmt: skip
    result = {
        "dropped": {v: d for v, (_u, d) in prepared.items()},
        "objects": objects,
        "repeat": repeat,
        "summary": summary,
        "runs": rows,
    }
    common.save_results("whatif", result)
    return result


if __name__ == "__main__":
    main()
