"""``manage.py serve_demo_taxii``: run the offline demo TAXII 2.1 feed in the foreground.

A thin wrapper over :mod:`threat_feeds.demo.taxii_server` (which also runs as
``python -m threat_feeds.demo.taxii_server``) so ``make run`` and operators start it the Django way.
The defaults make a paced demo: 20,000 synthetic objects in pages of 100, 0.3 s per page, so a
run lasts over a minute and can be watched and stopped by hand.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from threat_feeds.demo.taxii_server import ServerConfig, serve_forever


class Command(BaseCommand):
    help = "Serve the synthetic CRISP demo TAXII 2.1 collection on 127.0.0.1 (paced, basic auth)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="bind address (keep it on loopback)")
        parser.add_argument(
            "--port",
            type=int,
            default=settings.CRISP_DEMO_TAXII_PORT,
            help="default: CRISP_DEMO_TAXII_PORT (PORT+1 when unset), where the demo feed points",
        )
        parser.add_argument("--objects", type=int, default=20_000)
        parser.add_argument("--delay", type=float, default=0.3, help="seconds per page of objects")
        parser.add_argument("--page-size", type=int, default=100, help="maximum (and default) page size")
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo")
        parser.add_argument("--no-auth", action="store_true", help="serve without basic auth")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--edition", type=int, default=1, help="collection edition (re-issues objects)")

    def handle(self, *args, **opts) -> None:
        config = ServerConfig(
            host=opts["host"],
            port=opts["port"],
            objects=opts["objects"],
            delay=opts["delay"],
            page_max=opts["page_size"],
            username=None if opts["no_auth"] else opts["username"],
            password=None if opts["no_auth"] else opts["password"],
            seed=opts["seed"],
            version=opts["edition"],
        )
        try:
            serve_forever(config, out=lambda line: (self.stdout.write(line), self.stdout.flush()))
        except OSError as exc:
            raise CommandError(f"cannot listen on {config.host}:{config.port}: {exc}") from exc
