"""A configured feed: where to read, how, how often, and where the last run stopped."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models

from threat_feeds.choices import SourceType


class ThreatFeed(models.Model):
    name = models.CharField(max_length=200, unique=True)
    source_type = models.CharField(max_length=20, choices=SourceType.choices)
    url = models.URLField(max_length=1000, blank=True)
    collection_id = models.CharField(max_length=200, blank=True)
    # Secrets: write-only in the API, excluded from admin lists and logs.
    username = models.CharField(max_length=200, blank=True)
    password = models.CharField(max_length=500, blank=True)
    api_key = models.CharField(max_length=500, blank=True)
    page_size = models.PositiveIntegerField(default=1000)
    schedule_minutes = models.PositiveIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    # Resume a run whose worker died (SIGKILL, OOM) from the feed's cursor, up to
    # CRISP_AUTO_RESUME_ATTEMPTS times in a row.
    auto_resume = models.BooleanField(default=True)
    settings = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="feeds",
    )
    # Users the owner lets edit and start the feed (and so spend its credentials and quota).
    shared_with = models.ManyToManyField(
        django_settings.AUTH_USER_MODEL, blank=True, related_name="shared_feeds"
    )
    # The uploaded bundle, relative to VAR_DIR (uploads/<feed id>/<uuid>.json): chosen by the
    # server, never by a user; removed with the feed.
    upload_file = models.CharField(max_length=200, blank=True, editable=False)
    # Where the next run resumes (e.g. {"added_after": "..."}); advanced only after a page is stored.
    cursor = models.JSONField(default=dict, blank=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.source_type})"
