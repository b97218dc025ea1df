"""OTX ingest throughput: a real worker consumes a local OTX server (OTXv2 SDK) into the database.

The 5 recorded pulses (95 indicators) are served R times over, each copy under a pulse id of its
own (the only field changed), so the feed is big enough to time; every copy maps to 1 report +
its indicators/vulnerabilities.

    python -m bench.otx [--copies 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from typing import Any

from bench import common


def _pulses(copies: int) -> list[dict[str, Any]]:
    recorded = json.loads(
        (
            common.REPO.parent / "shared" / "datasets" / "otx" / "intelmq_test_parser_otx_pulses.json"
        ).read_text()
    )
    out = []
    for n in range(copies):
        for pulse in recorded:
            twin = copy.deepcopy(pulse)
            twin["id"] = hashlib.sha1(f"{pulse['id']}-{n}".encode()).hexdigest()[:24]
            out.append(twin)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--copies", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    copies = 40 if args.quick else args.copies
    common.setup_django()
    common.prepare_database(common.os.environ["DATABASE_URL"])
    sys.path.insert(0, str(common.REPO))
    from tests.peers.otx_server import otx_server
    from threat_feeds.models import ThreatFeed
    from threat_feeds.services.runs import feed_run_start

    pulses = _pulses(copies)
    rows, rates = [], []
    with otx_server(pulses=pulses, page_max=50) as server, common.celery_worker() as _worker:
        for rep in range(args.repeat):
            feed = ThreatFeed.objects.create(name=f"otx-bench-{rep}", source_type="otx", url=server.url,
                                             api_key=server.config.api_key, page_size=50)  # fmt: skip
            run = common.wait_run(feed_run_start(feed=feed, user=None).pk)
            seconds = (run.finished_at - run.started_at).total_seconds()
            rate = run.fetched / seconds
            rates.append(rate)
            rows.append(
                [rep + 1, len(pulses), run.fetched, run.created, f"{seconds:.2f}", f"{rate:,.0f}", run.status]
            )
    common.print_table("OTX ingest (real worker)", ["rep", "pulses", "STIX objects", "created", "seconds",
                                                    "objects/s", "status"], rows)  # fmt: skip
    result = {"pulses": len(pulses), "median_objects_per_s": common.median(rates), "rows": rows,
              "machine": common.machine()}  # fmt: skip
    common.save_results("otx", result)
    return result


if __name__ == "__main__":
    main()
