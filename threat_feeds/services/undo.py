"""Undo a finished run: remove its effects after the fact, exactly as cancel_job would have."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from threat_feeds.choices import RunStatus, Trigger
from threat_feeds.control.cancellation import can_cancel
from threat_feeds.control.progress import publish_run_on_commit
from threat_feeds.control.rollback import run_rollback
from threat_feeds.errors import NotAllowed, StateConflict
from threat_feeds.models import FeedRun, ThreatFeed


def run_is_feeds_latest(run: FeedRun) -> bool:
    """True when no later run of the feed moved (or may still move) the cursor this run left.

    Later runs that were cancelled or undone count as never having happened; a later run that is
    still active started from this run's cursor and will move it, so it counts.
    """
    later = FeedRun.objects.filter(feed_id=run.feed_id, pk__gt=run.pk).exclude(
        status__in=(RunStatus.CANCELLED, RunStatus.UNDONE)
    )
    return not later.filter(Q(status__in=RunStatus.active()) | ~Q(cursor_after={})).exists()


def run_undo(
    *, run_id: int, user: AbstractBaseUser | None, reason: str = "", source: str = Trigger.API
) -> FeedRun:
    """Roll back finished run `run_id` and mark it `undone`; 409 when it is active or already rolled back.

    `user` None is an operator (command line): allowed, like cancel. The cursor goes back to where the
    run started only if it was the feed's latest run, so a later run's progress is never lost.
    """
    requested_at = timezone.now()
    with transaction.atomic():
        # Lock order as in run_finalize: the run row, then (inside run_rollback) the store, then the feed.
        run = FeedRun.objects.select_for_update(of=("self",)).select_related("feed").get(pk=run_id)
        if user is not None and not can_cancel(user, run):
            raise NotAllowed("only the user who started this run, the feed's owner or staff may undo it")
        if run.status == RunStatus.UNDONE:
            raise StateConflict("run already undone", code="run_already_undone", extra={"status": run.status})
        if run.status == RunStatus.CANCELLED:
            raise StateConflict(
                "run was cancelled: it is already rolled back",
                code="run_already_undone",
                extra={"status": run.status},
            )
        if run.status not in RunStatus.undoable():
            raise StateConflict(
                f"run has not finished: {run.status}", code="run_not_finished", extra={"status": run.status}
            )
        result = run_rollback(run.pk)
        # The feed's lock (last in the order) before asking whether a later run exists: a run
        # starting now reads the cursor under the same lock, so it sees the restored one, or
        # it is the later run and the cursor stays.
        ThreatFeed.objects.select_for_update(no_key=True).values_list("pk", flat=True).get(pk=run.feed_id)
        restore_cursor = bool(run.cursor_after) and run_is_feeds_latest(run)
        if restore_cursor:
            ThreatFeed.objects.filter(pk=run.feed_id).update(cursor=run.cursor_before or {})
        run.status = RunStatus.UNDONE
        run.undo_requested_by = user if user is not None and user.is_authenticated else None
        run.undo_reason = reason[:2000]
        run.undo_source = source
        run.undo_requested_at = requested_at
        run.undo_objects_removed = result.removed
        run.undo_objects_restored = result.restored
        run.undo_indicators_removed = result.indicators_removed
        run.undo_cursor_restored = restore_cursor
        run.undone_at = timezone.now()  # after the rollback: the latency includes it
        run.save(
            update_fields=[
                "status", "undo_requested_by", "undo_reason", "undo_source", "undo_requested_at",
                "undo_objects_removed", "undo_objects_restored", "undo_indicators_removed",
                "undo_cursor_restored", "undone_at",
            ]
        )  # fmt: skip
        publish_run_on_commit(run.pk)
    return run
