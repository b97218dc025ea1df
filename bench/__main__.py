"""Run every benchmark in sequence and print each figure against its SPEC §9 target.

    python -m bench            full sizes (about 20 minutes on a 2-core machine)
    python -m bench --quick    smaller sizes (about 8 minutes)
    make bench BENCH_ARGS=--quick

Each figure is also a module of its own (python -m bench.ingest, bench.memory, bench.cancel,
bench.task_status, bench.stream, bench.profile_ingest, bench.whatif); results are appended to bench/results/.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

from bench import cancel, common, ingest, memory, otx, profile_ingest, stream, task_status, vt_quota, whatif


def _verdict(value: float, target: float, higher_is_better: bool = False) -> str:
    if not math.isfinite(value):
        return "not met (no finite value)"
    if higher_is_better:
        return "met" if value >= target else f"not met: {value / target:.1%} of target"
    return "met" if value <= target else f"not met: {value / target:.1f}x the target"


def figures(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows: list[list[str]] = []
    for s in results.get("ingest", {}).get("summary", []):
        rows.append([f"ingest {s['backend']} {s['objects']:,} objects, page {s['page_size']}",
                     ">= 50,000 objects/s" if s["backend"] == "postgresql" else "(reference)",
                     f"{s['objects_per_s']:,.0f} objects/s (ceiling {s['ceiling_objects_per_s']:,.0f})",
                     _verdict(s["objects_per_s"], 50_000, True) if s["backend"] == "postgresql" else ""])  # fmt: skip
    for r in results.get("memory", {}).get("rows", []):
        rows.append([f"worker peak RSS, {r['objects']:,} objects", "<= 300 MB, flat",
                     f"{r['peak_mb']:.0f} MB ({r['objects_per_s']:,.0f} objects/s)", _verdict(r["peak_mb"], 300)])  # fmt: skip
    c = results.get("cancel", {})
    for s in c.get("summary", []):
        worst = max(s["latency_ms_p99"], s["observed_ms_p99"])
        rows.append([f"cancel {s['scenario']}, {s['mode']} (n={s['n']})", f"p99 <= {s['target_p99_ms']:.0f} ms",
                     f"p99 {s['latency_ms_p99']:.0f} ms (DB), {s['observed_ms_p99']:.0f} ms (seen)",
                     _verdict(worst, s["target_p99_ms"])])  # fmt: skip
    for r in c.get("rollback", []):
        rows.append([f"cancel_job of a {r['objects_stored']:,}-object run, rep {r['rep']}", "<= 3 s",
                     f"{r['observed_s']:.2f} s seen; run_rollback() {r['direct_run_rollback_s']:.2f} s",
                     _verdict(max(r["observed_s"], r["direct_run_rollback_s"]), 3.0)])  # fmt: skip
    if cost := c.get("checkpoint_cost"):
        measured = (
            f"{cost['cost_of_medians']:.1%} (medians), {cost['median_pair_cost']:.1%} (median of pairs)"
        )
        rows.append(
            ["cost of checkpoints on ingest", "<= 2 %", measured, _verdict(cost["cost_of_medians"], 0.02)]
        )
    st = results.get("stream", {})
    if st.get("rows"):
        rows.append([f"live stream, {st['viewers']} viewers during an ingest: update gap", "p99 <= 1 s",
                     f"p99 {st['gap_p99_ms']:.0f} ms", _verdict(st["gap_p99_ms"], 1000)])  # fmt: skip
        rows.append(["cancel -> terminal while streaming (stop_now)", "p99 <= 100 ms",
                     f"p99 {st['cancel_ms_db_p99']:.0f} ms (DB)", _verdict(st["cancel_ms_db_p99"], 100)])  # fmt: skip
    if cost := st.get("publish_cost"):
        rows.append(["cost of publishing progress on ingest", "<= 2 %", f"{cost['cost_of_medians']:.1%} (medians)",
                     _verdict(cost["cost_of_medians"], 0.02)])  # fmt: skip
    for ph in results.get("task_status", {}).get("phases", []):
        rows.append([f"task-status at 200 req/s, {ph['phase']}", "p99 <= 25 ms",
                     f"p99 {ph['p99_ms']:.1f} ms (achieved {ph['achieved_rate']:.0f}/s)", _verdict(ph["p99_ms"], 25)])  # fmt: skip
    if o := results.get("otx"):
        rows.append(
            [
                "OTX ingest (OTXv2 SDK, real worker)",
                "(reference)",
                f"{o['median_objects_per_s']:,.0f} objects/s",
                "",
            ]
        )
    if v := results.get("vt_quota"):
        rows.append([f"VirusTotal quota, two workers, {v['configured_per_window']} per {v['window_seconds']:g} s",
                     "never above the quota", f"at most {v['max_in_any_window']} in any window",
                     "met" if v["max_in_any_window"] <= v["configured_per_window"] else "not met"])  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes")
    p.add_argument("--only", nargs="*", default=None,
                   choices=["ingest", "memory", "cancel", "task_status", "stream", "profile_ingest", "whatif", "otx", "vt_quota"])  # fmt: skip
    ns = p.parse_args(argv)
    quick = ["--quick"] if ns.quick else []
    steps = {
        "ingest": lambda: ingest.main(quick),
        "memory": lambda: memory.main(quick),
        "cancel": lambda: cancel.main(quick),
        "task_status": lambda: task_status.main(quick),
        "stream": lambda: stream.main(quick),
        "profile_ingest": lambda: profile_ingest.main(quick),
        "whatif": lambda: whatif.main(quick),
        "otx": lambda: otx.main(quick),
        "vt_quota": lambda: vt_quota.main(quick),
    }
    results: dict[str, dict[str, Any]] = {}
    started = time.monotonic()
    for name, step in steps.items():
        if ns.only is None or name in ns.only:
            common.log(f"=== bench.{name} {' '.join(quick)}")
            t0 = time.monotonic()
            results[name] = step()
            common.log(f"=== bench.{name} took {time.monotonic() - t0:.0f} s")
    rows = figures(results)
    print("\n## figures against SPEC §9 targets\n")
    print("| figure | target | measured | verdict |\n| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nall benchmarks took {time.monotonic() - started:.0f} s; machine {common.machine()}")
    common.save_results("summary", {"quick": ns.quick, "figures": rows})


if __name__ == "__main__":
    main()
