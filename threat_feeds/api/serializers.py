"""API representations: feeds (credentials write-only), the run snapshot, and the store."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from threat_feeds.choices import CancelMode, SourceType
from threat_feeds.models import FeedRun, Indicator, ObjectProvenance, StixObject, ThreatFeed
from threat_feeds.selectors import last_run
from threat_feeds.sources.base import SourceError

DEFAULT_SERVERS = {
    SourceType.OTX: "https://otx.alienvault.com",
    SourceType.VIRUSTOTAL: "https://www.virustotal.com",
}


def run_snapshot(run: FeedRun, *, user: Any = None) -> dict[str, Any]:
    """The run as every client sees it: status, stage, live progress, cancellation, error."""
    from threat_feeds.control.cancellation import can_cancel

    end = run.finished_at or timezone.now()
    elapsed = (end - run.started_at).total_seconds() if run.started_at else 0.0
    rate = run.fetched / elapsed if elapsed > 0 else None
    percent = eta = None
    if run.total_expected:
        percent = round(min(100.0, 100.0 * run.fetched / run.total_expected), 1)
        if rate and not run.finished_at:
            eta = round(max(0, run.total_expected - run.fetched) / rate, 1)
    cancellation = None
    if run.cancel_mode:
        cancellation = {
            "mode": run.cancel_mode,
            "reason": run.cancel_reason,
            "requested_by": run.cancel_requested_by.username if run.cancel_requested_by else None,
            "source": run.cancel_source,
            "requested_at": run.cancel_requested_at,
            "acknowledged_at": run.cancel_acknowledged_at,
            "latency_ms": run.cancel_latency_ms,
            "objects_kept": run.objects_kept,
            "objects_removed": run.objects_removed,
            "objects_restored": run.objects_restored,
            "escalated": run.cancel_escalated,
        }
    return {
        "task_id": str(run.task_id),
        "run_id": run.pk,
        "feed": {"id": run.feed_id, "name": run.feed.name, "source_type": run.feed.source_type},
        "status": run.status,
        "stage": run.stage or None,
        "trigger": run.trigger,
        "progress": {
            "pages": run.pages,
            "fetched": run.fetched,
            "created": run.created,
            "updated": run.updated,
            "unchanged": run.unchanged,
            "invalid": run.invalid,
            "errors": run.errors,
            "total_expected": run.total_expected,
            "percent": percent,
            "rate_per_second": round(rate, 1) if rate is not None else None,
            "eta_seconds": eta,
        },
        "invalid_samples": run.invalid_samples,
        "requested_by": run.requested_by.username if run.requested_by else None,
        "queued_at": run.queued_at,
        "started_at": run.started_at,
        "heartbeat_at": run.heartbeat_at,
        "finished_at": run.finished_at,
        "cursor_before": run.cursor_before,
        "cursor_after": run.cursor_after,
        "cancellation": cancellation,
        "error": {"code": run.error_code, "detail": run.error_message} if run.error_code else None,
        "can_cancel": bool(user is not None and run.is_active and can_cancel(user, run)),
    }


class _FeedRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    source_type = serializers.CharField()


class _ProgressSerializer(serializers.Serializer):
    pages = serializers.IntegerField()
    fetched = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    invalid = serializers.IntegerField()
    errors = serializers.IntegerField()
    total_expected = serializers.IntegerField(allow_null=True)
    percent = serializers.FloatField(allow_null=True)
    rate_per_second = serializers.FloatField(allow_null=True)
    eta_seconds = serializers.FloatField(allow_null=True)


class _CancellationSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=CancelMode.choices)
    reason = serializers.CharField()
    requested_by = serializers.CharField(allow_null=True)
    source = serializers.CharField()
    requested_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    latency_ms = serializers.FloatField(allow_null=True)
    objects_kept = serializers.IntegerField(allow_null=True)
    objects_removed = serializers.IntegerField(allow_null=True)
    objects_restored = serializers.IntegerField(allow_null=True)
    escalated = serializers.BooleanField()


class _ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class RunSnapshotSerializer(serializers.Serializer):
    """Read-only: documents the snapshot for OpenAPI; `run_snapshot` builds it."""

    task_id = serializers.UUIDField()
    run_id = serializers.IntegerField()
    feed = _FeedRefSerializer()
    status = serializers.CharField()
    stage = serializers.CharField(allow_null=True)
    trigger = serializers.CharField()
    progress = _ProgressSerializer()
    invalid_samples = serializers.ListField(child=serializers.CharField())
    requested_by = serializers.CharField(allow_null=True)
    queued_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    cursor_before = serializers.DictField()
    cursor_after = serializers.DictField()
    cancellation = _CancellationSerializer(allow_null=True)
    error = _ErrorSerializer(allow_null=True)
    can_cancel = serializers.BooleanField()

    def to_representation(self, instance: FeedRun) -> dict[str, Any]:
        request = self.context.get("request")
        return run_snapshot(instance, user=getattr(request, "user", None))


class ThreatFeedSerializer(serializers.ModelSerializer):
    username = serializers.CharField(write_only=True, required=False, allow_blank=True)
    password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, style={"input_type": "password"}
    )
    api_key = serializers.CharField(write_only=True, required=False, allow_blank=True)
    schedule = serializers.IntegerField(
        source="schedule_minutes",
        required=False,
        allow_null=True,
        min_value=1,
        help_text="Minutes between runs.",
    )
    owner = serializers.CharField(source="owner.username", read_only=True, default=None)
    credentials = serializers.SerializerMethodField()
    last_run = serializers.SerializerMethodField()

    class Meta:
        model = ThreatFeed
        fields = [
            "id", "name", "source_type", "url", "collection_id", "username", "password", "api_key",
            "credentials", "page_size", "schedule", "is_active", "settings", "owner", "cursor", "last_run",
            "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "owner", "cursor", "last_run", "created_at"]

    def get_credentials(self, feed: ThreatFeed) -> dict[str, bool]:
        return {
            "username": bool(feed.username),
            "password": bool(feed.password),
            "api_key": bool(feed.api_key),
        }

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_last_run(self, feed: ThreatFeed) -> dict[str, Any] | None:
        run = last_run(feed.pk)
        return run_snapshot(run, user=getattr(self.context.get("request"), "user", None)) if run else None

    def validate_page_size(self, value: int) -> int:
        if not 1 <= value <= 10000:
            raise serializers.ValidationError("page_size must be between 1 and 10000.")
        return value

    def validate_settings(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise serializers.ValidationError("settings must be a JSON object.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        from threat_feeds.sources.netguard import check_url

        source_type = attrs.get("source_type", getattr(self.instance, "source_type", None))
        url = attrs.get("url", getattr(self.instance, "url", ""))
        if (
            self.instance is not None
            and "source_type" in attrs
            and attrs["source_type"] != self.instance.source_type
        ):
            raise serializers.ValidationError({"source_type": "The source type of a feed cannot change."})
        if source_type in DEFAULT_SERVERS and not url:
            attrs["url"] = url = DEFAULT_SERVERS[source_type]
        if source_type == SourceType.TAXII21:
            if not url:
                raise serializers.ValidationError({"url": "The TAXII 2.1 API root URL is required."})
            if not attrs.get("collection_id", getattr(self.instance, "collection_id", "")):
                raise serializers.ValidationError({"collection_id": "A TAXII collection id is required."})
        if url:
            try:
                check_url(url, allow_private=settings.CRISP_ALLOW_PRIVATE_FEED_URLS)
            except SourceError as exc:
                raise serializers.ValidationError({"url": exc.message}) from exc
        return attrs


class CancelRequestSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=CancelMode.choices)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class ProvenanceMixin:
    provenance_related: tuple[str, ...] = ("feed", "run")

    def provenance(self, links: Any) -> list[dict[str, Any]]:
        return [
            {
                "feed": {"id": link.feed_id, "name": link.feed.name},
                "run": {"run_id": link.run_id, "task_id": str(link.run.task_id)},
                "seen_at": link.seen_at,
                **(
                    {"action": link.action}
                    if hasattr(link, "action")
                    else {"path": link.path, "stix_id": link.stix_object.stix_id}
                ),
            }
            for link in links.select_related(*self.provenance_related)[:200]
        ]


class StixObjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = StixObject
        fields = [
            "id",
            "stix_id",
            "type",
            "spec_version",
            "created",
            "modified",
            "first_seen_at",
            "updated_at",
            "data",
        ]


class StixObjectDetailSerializer(ProvenanceMixin, StixObjectSerializer):
    provenance_links = serializers.SerializerMethodField()
    versions = serializers.SerializerMethodField()

    class Meta(StixObjectSerializer.Meta):
        fields = [*StixObjectSerializer.Meta.fields, "provenance_links", "versions"]

    def get_provenance_links(self, obj: StixObject) -> list[dict[str, Any]]:
        return self.provenance(obj.provenance.all())

    def get_versions(self, obj: StixObject) -> list[dict[str, Any]]:
        """Every version kept, newest first, with the feeds and runs that delivered each."""
        versions = obj.versions.prefetch_related(
            Prefetch("links", queryset=ObjectProvenance.objects.select_related("feed", "run").order_by("id"))
        ).order_by("-modified", "-id")[:50]
        return [
            {
                "version_key": v.version_key,
                "modified": v.modified,
                "spec_version": v.spec_version,
                "first_seen_at": v.first_seen_at,
                "current": v.version_key == obj.version_key,
                "data": v.data,
                "delivered_by": [
                    {
                        "feed": {"id": link.feed_id, "name": link.feed.name},
                        "run": {
                            "run_id": link.run_id,
                            "task_id": str(link.run.task_id),
                            "status": link.run.status,
                        },
                        "action": link.action,
                        "seen_at": link.seen_at,
                    }
                    for link in v.links.all()[:200]
                ],
            }
            for v in versions
        ]


class IndicatorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Indicator
        fields = ["id", "kind", "value", "first_seen_at", "enrichment", "enriched_at"]


class IndicatorDetailSerializer(ProvenanceMixin, IndicatorSerializer):
    provenance_links = serializers.SerializerMethodField()

    class Meta(IndicatorSerializer.Meta):
        fields = [*IndicatorSerializer.Meta.fields, "provenance_links"]

    provenance_related = ("feed", "run", "stix_object")

    def get_provenance_links(self, indicator: Indicator) -> list[dict[str, Any]]:
        return self.provenance(indicator.provenance.all())
