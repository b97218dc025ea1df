"""API representations: feeds (credentials write-only), the run snapshot, and the store."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from threat_feeds.choices import CancelMode, RunStage, RunStatus, SourceType, Trigger
from threat_feeds.control import progress
from threat_feeds.models import FeedRun, Indicator, StixObject, ThreatFeed
from threat_feeds.selectors import last_run
from threat_feeds.sources.base import SourceError

DEFAULT_SERVERS = {
    SourceType.OTX: "https://otx.alienvault.com",
    SourceType.VIRUSTOTAL: "https://www.virustotal.com",
}


def run_snapshot(run: FeedRun, *, user: Any = None) -> dict[str, Any]:
    """The run as every client sees it: status, stage, live progress, cancellation, undo, error.
    Built by `control.progress` so the live snapshot in Redis is exactly this JSON."""
    may = progress.may_act(user, requested_by_id=run.requested_by_id, feed_owner_id=run.feed.owner_id)
    return progress.personalize(progress.snapshot_base(run), user, may=may)


class _FeedRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    source_type = serializers.ChoiceField(choices=SourceType.choices)


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


class _UndoSerializer(serializers.Serializer):
    reason = serializers.CharField()
    requested_by = serializers.CharField(allow_null=True)
    source = serializers.CharField()
    requested_at = serializers.DateTimeField()
    undone_at = serializers.DateTimeField(allow_null=True)
    latency_ms = serializers.FloatField(allow_null=True)
    objects_removed = serializers.IntegerField(allow_null=True)
    objects_restored = serializers.IntegerField(allow_null=True)
    indicators_removed = serializers.IntegerField(allow_null=True)
    cursor_restored = serializers.BooleanField(
        help_text="The feed's cursor went back to where the run started."
    )


class _ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class RunSnapshotSerializer(serializers.Serializer):
    """Read-only: documents the snapshot for OpenAPI; `run_snapshot` builds it."""

    task_id = serializers.UUIDField()
    run_id = serializers.IntegerField()
    feed = _FeedRefSerializer()
    status = serializers.ChoiceField(choices=RunStatus.choices)
    stage = serializers.ChoiceField(choices=RunStage.choices, allow_null=True)
    trigger = serializers.ChoiceField(choices=Trigger.choices)
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
    undo = _UndoSerializer(allow_null=True)
    events = serializers.ListField(
        child=serializers.DictField(),
        help_text="History: started (worker), requeued (worker_shutdown / message_lost), terminated, "
        "revoked, resumed.",
    )
    requeues = serializers.IntegerField(help_text="Times its queue message was lost and sent again.")
    resumed_from = serializers.UUIDField(
        allow_null=True, help_text="Task id of the interrupted run it resumes."
    )
    error = _ErrorSerializer(allow_null=True)
    can_cancel = serializers.BooleanField()
    can_undo = serializers.BooleanField(help_text="Finished, not rolled back, and this user may undo it.")

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
            "credentials", "page_size", "schedule", "is_active", "auto_resume", "settings", "owner", "cursor", "last_run",
            "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "owner", "cursor", "last_run", "created_at"]

    def get_credentials(self, feed: ThreatFeed) -> dict[str, bool]:
        return {
            "username": bool(feed.username),
            "password": bool(feed.password),
            "api_key": bool(feed.api_key),
        }

    @extend_schema_field(RunSnapshotSerializer(allow_null=True))
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


class UndoRequestSerializer(serializers.Serializer):
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
        return [
            {
                "modified": v.modified,
                "superseded_at": v.superseded_at,
                "superseded_by_run": v.superseded_by_run_id,
            }
            for v in obj.versions.all()[:50]
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
