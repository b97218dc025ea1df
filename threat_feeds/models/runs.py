"""A run: one consumption of one feed, with live counters, its cancellation record and its undo record."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from threat_feeds.choices import CancelMode, RunStage, RunStatus, Trigger


class FeedRun(models.Model):
    feed = models.ForeignKey("threat_feeds.ThreatFeed", on_delete=models.CASCADE, related_name="runs")
    task_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED)
    stage = models.CharField(max_length=20, choices=RunStage.choices, blank=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.API)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    pages = models.PositiveIntegerField(default=0)
    fetched = models.PositiveBigIntegerField(default=0)
    created = models.PositiveBigIntegerField(default=0)
    updated = models.PositiveBigIntegerField(default=0)
    unchanged = models.PositiveBigIntegerField(default=0)
    invalid = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    total_expected = models.PositiveBigIntegerField(null=True, blank=True)
    invalid_samples = models.JSONField(default=list, blank=True)

    cursor_before = models.JSONField(default=dict, blank=True)
    cursor_after = models.JSONField(default=dict, blank=True)

    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker_hostname = models.CharField(max_length=200, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    # Delivery: the Celery queue the run's task goes to, when its message was last sent, and how
    # often it was sent again because the broker lost it (bounded by CRISP_MAX_REQUEUES).
    queue = models.CharField(max_length=200, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    requeues = models.PositiveSmallIntegerField(default=0)
    # Set by a worker shutting down: the run stops at its next checkpoint and goes back to the queue.
    hand_back_requested_at = models.DateTimeField(null=True, blank=True)
    # Automatic resumption of an interrupted run: the run it continues, and how many in a row.
    resumed_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resumed_by"
    )
    resume_attempt = models.PositiveSmallIntegerField(default=0)
    # What happened to the run besides its counters: [{"event": "requeued", "at": ..., ...}, ...].
    events = models.JSONField(default=list, blank=True)

    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)

    # Cancellation record (SPEC §4/§5).
    cancel_mode = models.CharField(max_length=20, choices=CancelMode.choices, blank=True)
    cancel_reason = models.TextField(blank=True)
    cancel_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancel_source = models.CharField(max_length=20, choices=Trigger.choices, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_acknowledged_at = models.DateTimeField(null=True, blank=True)
    objects_kept = models.PositiveBigIntegerField(null=True, blank=True)
    objects_removed = models.PositiveBigIntegerField(null=True, blank=True)
    objects_restored = models.PositiveBigIntegerField(null=True, blank=True)
    # True when the task ignored the cancel for the grace period and was terminated from outside.
    cancel_escalated = models.BooleanField(default=False)

    # Undo record (SPEC §4/§5): a finished run rolled back afterwards. Its counts are kept apart from
    # the cancellation record, which a stopped run already has (objects_kept) and keeps.
    undo_reason = models.TextField(blank=True)
    undo_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    undo_source = models.CharField(max_length=20, choices=Trigger.choices, blank=True)
    undo_requested_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undo_objects_removed = models.PositiveBigIntegerField(null=True, blank=True)
    undo_objects_restored = models.PositiveBigIntegerField(null=True, blank=True)
    undo_indicators_removed = models.PositiveBigIntegerField(null=True, blank=True)
    # True when this was the feed's latest run and the feed's cursor went back to cursor_before.
    undo_cursor_restored = models.BooleanField(default=False)

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["feed", "-queued_at"])]
        constraints = [
            # The database, not application code, guarantees one active run per feed.
            models.UniqueConstraint(
                fields=["feed"],
                condition=Q(status__in=RunStatus.active()),
                name="one_active_run_per_feed",
            )
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of feed {self.feed_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in RunStatus.active()

    @property
    def cancel_latency_ms(self) -> float | None:
        if self.cancel_requested_at and self.finished_at and self.cancel_mode:
            return round((self.finished_at - self.cancel_requested_at).total_seconds() * 1000, 1)
        return None

    @property
    def undo_latency_ms(self) -> float | None:
        if self.undo_requested_at and self.undone_at:
            return round((self.undone_at - self.undo_requested_at).total_seconds() * 1000, 1)
        return None
