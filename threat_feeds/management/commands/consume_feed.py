"""Start a run of a feed from the command line, optionally following it with a progress bar."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from threat_feeds.choices import RunStatus, Trigger
from threat_feeds.errors import CrispError
from threat_feeds.management.commands._helpers import find_feed, find_user
from threat_feeds.models import FeedRun
from threat_feeds.services.runs import feed_run_start


class Command(BaseCommand):
    help = "Queue a run of FEED (id or name); with --wait, follow it to its end."

    def add_arguments(self, parser):
        parser.add_argument("feed")
        parser.add_argument("--wait", action="store_true", help="follow the run until it ends")
        parser.add_argument("--user", help="record this user as the one who started the run")

    def handle(self, *args, **options):
        feed = find_feed(options["feed"])
        try:
            run = feed_run_start(feed=feed, user=find_user(options["user"]), trigger=Trigger.CLI)
        except CrispError as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(f"queued run {run.pk} (task {run.task_id}) of feed '{feed.name}'")
        if not options["wait"]:
            return
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[detail]}"),
        ) as progress:  # fmt: skip
            bar = progress.add_task("queued", total=None, detail="")
            while True:
                run = FeedRun.objects.get(pk=run.pk)
                progress.update(
                    bar, description=f"{run.status} {run.stage}".strip(), completed=run.fetched,
                    total=run.total_expected,
                    detail=f"pages {run.pages} new {run.created} upd {run.updated} same {run.unchanged} bad {run.invalid}",
                )  # fmt: skip
                if run.status in RunStatus.terminal():
                    break
                time.sleep(0.5)
        self.stdout.write(f"run {run.pk} ended: {run.status}")
        if run.error_code:
            raise CommandError(f"{run.error_code}: {run.error_message}")
