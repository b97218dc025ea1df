"""Cancel requests: durable on the run first, then announced through Redis (and Celery for queued runs)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from threat_feeds.choices import CancelMode, RunStatus, Trigger
from threat_feeds.control import dispatch
from threat_feeds.control.progress import may_act, publish_run_on_commit
from threat_feeds.control.signals import announce_cancel
from threat_feeds.errors import InvalidInput, NotAllowed, StateConflict
from threat_feeds.models import FeedRun


def can_cancel(user: AbstractBaseUser, run: FeedRun) -> bool:
    """The user who started the run, the feed's owner, or staff."""
    return may_act(user, requested_by_id=run.requested_by_id, feed_owner_id=run.feed.owner_id)


def feed_run_cancel(
    *, run_id: int, user: AbstractBaseUser | None, mode: str, reason: str = "", source: str = Trigger.API
) -> FeedRun:
    """Ask run `run_id` to stop (stop_now) or to stop and roll back (cancel_job). Idempotent."""
    if mode not in CancelMode.values:
        raise InvalidInput(f"mode must be one of {', '.join(CancelMode.values)}", code="invalid_mode")
    with transaction.atomic():
        # NO KEY UPDATE: recorded at once even mid-batch (a batch holds KEY SHARE on its run).
        run = (
            FeedRun.objects.select_for_update(of=("self",), no_key=True).select_related("feed").get(pk=run_id)
        )
        if user is not None and not can_cancel(user, run):
            raise NotAllowed("only the user who started this run, the feed's owner or staff may cancel it")
        if run.status in RunStatus.terminal():
            raise StateConflict(
                f"run already finished: {run.status}", code="run_finished", extra={"status": run.status}
            )
        if run.status == RunStatus.CANCELLING or (
            run.status == RunStatus.STOPPING and mode == CancelMode.STOP_NOW
        ):
            return run  # repeated request: same state; cancel_job is never downgraded
        now = timezone.now()
        if run.cancel_requested_at is None:
            run.cancel_requested_at = now
            run.cancel_requested_by = user if user is not None and user.is_authenticated else None
            run.cancel_reason = reason[:2000]
            run.cancel_source = source
        elif reason:
            run.cancel_reason = reason[:2000]
        run.cancel_mode = mode
        fields = ["cancel_requested_at", "cancel_requested_by", "cancel_reason", "cancel_source", "cancel_mode",
                  "status"]  # fmt: skip
        if run.status == RunStatus.QUEUED:
            # Never started: nothing to keep or undo; the revoked task finds the run terminal if it starts.
            run.status = RunStatus.CANCELLED
            run.cancel_acknowledged_at = now
            run.finished_at = now
            run.objects_kept = run.objects_removed = run.objects_restored = 0
            fields += [
                "cancel_acknowledged_at",
                "finished_at",
                "objects_kept",
                "objects_removed",
                "objects_restored",
            ]
            transaction.on_commit(lambda: dispatch.revoke(str(run.task_id)))
        else:
            run.status = RunStatus.STOPPING if mode == CancelMode.STOP_NOW else RunStatus.CANCELLING
            transaction.on_commit(lambda: announce_cancel(str(run.task_id), mode))
        run.save(update_fields=fields)  # only these: the row is wide (events, samples)
        publish_run_on_commit(run.pk)
    return run
