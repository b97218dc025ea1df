"""Undo a finished run: roll back everything it wrote, as cancel_job would have; status `undone`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from threat_feeds.choices import Trigger
from threat_feeds.errors import CrispError
from threat_feeds.management.commands._helpers import find_run, find_user
from threat_feeds.services.undo import run_undo


class Command(BaseCommand):
    help = "Undo a finished run (completed, stopped, failed, interrupted): undo_run <task_id> --reason …"

    def add_arguments(self, parser):
        parser.add_argument("task_id", help="the run's task id (or its numeric id)")
        parser.add_argument("--reason", default="", help="recorded in the run's undo record")
        parser.add_argument(
            "--user", help="record this user as the one who undid it (operators act as admin)"
        )

    def handle(self, *args, **options):
        run = find_run(options["task_id"])
        try:
            run = run_undo(
                run_id=run.pk, user=find_user(options["user"]), reason=options["reason"], source=Trigger.CLI
            )
        except CrispError as exc:
            raise CommandError(f"run {run.pk} ({run.task_id}): {exc.detail}") from exc
        cursor = (
            "feed cursor put back to where the run started"
            if run.undo_cursor_restored
            else "feed cursor unchanged"
        )
        self.stdout.write(
            f"run {run.pk} ({run.task_id}): {run.status}; {run.undo_objects_removed} objects removed, "
            f"{run.undo_objects_restored} restored, {run.undo_indicators_removed} indicators removed; {cursor}"
        )
