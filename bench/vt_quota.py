"""VirusTotal quota accuracy: two enrichment runs on two workers share one API key's quota.

The local VirusTotal server (recorded v3 responses) timestamps every request; the figure is the
most requests seen in any quota window against the configured limit, and the rate achieved.

    python -m bench.vt_quota [--per-window 10] [--window 10] [--indicators 40]
"""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any

from bench import common


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-window", type=int, default=10)
    p.add_argument("--window", type=float, default=10.0, help="seconds (60 = a per-minute quota)")
    p.add_argument("--indicators", type=int, default=40, help="per run")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.indicators = 20
    common.setup_django()
    common.prepare_database(common.os.environ["DATABASE_URL"])
    sys.path.insert(0, str(common.REPO))
    from django.utils import timezone

    from tests.peers.vt_server import vt_server
    from threat_feeds.models import Indicator, ThreatFeed
    from threat_feeds.services.runs import feed_run_start

    for n in range(args.indicators):
        Indicator.objects.create(
            kind="ipv4", value=f"198.51.{n // 250}.{n % 250 + 1}", first_seen_at=timezone.now()
        )
        Indicator.objects.create(kind="domain", value=f"bench{n}.example", first_seen_at=timezone.now())
    quota = {"quota_per_minute": args.per_window, "quota_window_seconds": args.window}
    datasets = common.REPO.parent / "shared" / "datasets"
    with vt_server(datasets, api_key=f"bench-{uuid.uuid4().hex}") as server, \
            common.celery_worker(concurrency=1) as _one, common.celery_worker(concurrency=1) as _two:  # fmt: skip
        # Each worker consumes its own queue: route one run to each.
        from crisp.celery import app

        runs = []
        for kind, worker in (("ipv4", _one), ("domain", _two)):
            app.conf.task_default_queue = worker.queue
            feed = ThreatFeed.objects.create(name=f"vt-{kind}", source_type="virustotal", url=server.url,
                                             api_key=server.api_key, settings={"kinds": [kind], **quota})  # fmt: skip
            runs.append(feed_run_start(feed=feed, user=None))
        done = [common.wait_run(r.pk, timeout=3600) for r in runs]
        times = sorted(server.times)
    busiest = max(sum(1 for t in times if s <= t < s + args.window) for s in times)
    span = times[-1] - times[0]
    # After the first window's burst, the sustained rate is what the quota is about.
    achieved = (len(times) - args.per_window) / span * args.window if span else float("inf")
    rows = [[f"{args.per_window} per {args.window:g} s", len(times), busiest, f"{achieved:.2f}",
             " / ".join(r.status for r in done)]]  # fmt: skip
    common.print_table("VirusTotal quota shared by two workers",
                       ["configured", "requests", "most in any window", "sustained per window", "runs"], rows)  # fmt: skip
    result = {"configured_per_window": args.per_window, "window_seconds": args.window, "requests": len(times),
              "max_in_any_window": busiest, "achieved_per_window": achieved, "machine": common.machine()}  # fmt: skip
    common.save_results("vt_quota", result)
    return result


if __name__ == "__main__":
    main()
