"""Stop (stop_now) or cancel and roll back (cancel_job) one run, a feed's active run, or all active runs."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from threat_feeds.choices import CancelMode, RunStatus, Trigger
from threat_feeds.control.cancellation import feed_run_cancel
from threat_feeds.errors import CrispError
from threat_feeds.management.commands._helpers import find_feed, find_run, find_user
from threat_feeds.models import FeedRun


class Command(BaseCommand):
    help = "Cancel runs: cancel_run <task_id> | --feed FEED | --all, with --mode stop_now|cancel_job."

    def add_arguments(self, parser):
        parser.add_argument("task_id", nargs="?")
        parser.add_argument("--feed")
        parser.add_argument("--all", action="store_true")
        parser.add_argument("--mode", choices=CancelMode.values, default=CancelMode.STOP_NOW)
        parser.add_argument("--reason", default="")
        parser.add_argument("--user", help="record this user as the canceller (operators act as admin)")

    def handle(self, *args, **options):
        if sum(bool(x) for x in (options["task_id"], options["feed"], options["all"])) != 1:
            raise CommandError("give exactly one of TASK_ID, --feed or --all")
        if options["task_id"]:
            runs = [find_run(options["task_id"])]
        else:
            qs = FeedRun.objects.filter(status__in=RunStatus.active())
            runs = list(qs.filter(feed=find_feed(options["feed"])) if options["feed"] else qs)
        user = find_user(options["user"])
        for run in runs:
            try:
                run = feed_run_cancel(
                    run_id=run.pk,
                    user=user,
                    mode=options["mode"],
                    reason=options["reason"],
                    source=Trigger.CLI,
                )
                self.stdout.write(f"run {run.pk} ({run.task_id}): {run.status}")
            except CrispError as exc:
                self.stderr.write(f"run {run.pk} ({run.task_id}): {exc.detail}")
        if not runs:
            self.stdout.write("no active runs")
