"""List runs, newest first."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from rich.console import Console
from rich.table import Table

from threat_feeds.choices import RunStatus
from threat_feeds.models import FeedRun


class Command(BaseCommand):
    help = "List runs, newest first."

    def add_arguments(self, parser):
        parser.add_argument("--feed", help="feed id or name")
        parser.add_argument("--active", action="store_true")
        parser.add_argument("--limit", type=int, default=20)

    def handle(self, *args, **options):
        runs = FeedRun.objects.select_related("feed", "requested_by").order_by("-queued_at", "-id")
        if options["feed"]:
            from threat_feeds.management.commands._helpers import find_feed

            runs = runs.filter(feed=find_feed(options["feed"]))
        if options["active"]:
            runs = runs.filter(status__in=RunStatus.active())
        table = Table("run", "task id", "feed", "status", "trigger", "fetched", "created", "updated", "invalid",
                      "queued", "finished", "cancel")  # fmt: skip
        for run in runs[: options["limit"]]:
            table.add_row(
                str(run.pk), str(run.task_id), run.feed.name, run.status, run.trigger, str(run.fetched),
                str(run.created), str(run.updated), str(run.invalid), f"{run.queued_at:%Y-%m-%d %H:%M:%S}",
                f"{run.finished_at:%H:%M:%S}" if run.finished_at else "",
                f"{run.cancel_mode} ({run.objects_removed or 0} removed)" if run.cancel_mode else "",
            )  # fmt: skip
        Console(file=self.stdout, width=200).print(table)
