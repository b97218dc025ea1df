"""API representations: feeds (credentials write-only), the run snapshot, and the store."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from threat_feeds.api.feed_settings import validate_feed_settings, visible_settings
from threat_feeds.choices import CancelMode, RunStage, RunStatus, SourceType, Trigger
from threat_feeds.control import progress
from threat_feeds.errors import NotAllowed
from threat_feeds.models import FeedRun, Indicator, ObjectProvenance, StixObject, ThreatFeed
from threat_feeds.selectors import can_edit_feed, can_manage_feed, last_run
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


MAX_SCHEDULE_MINUTES = 525_600  # a year: beat computes next runs from it, and must not overflow
MAX_PAGE_SIZE = 10_000
# Only the owner or staff may change these: they decide where the feed's credentials are sent.
MANAGER_FIELDS = ("url", "username", "password", "api_key", "shared_with")


class _UsernameListField(serializers.ListField):
    def to_representation(self, data: Any) -> list[str]:
        return sorted(member.get_username() for member in data.all())


class ThreatFeedSerializer(serializers.ModelSerializer):
    username = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=200)
    password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=500, style={"input_type": "password"}
    )
    api_key = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=500)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE)
    schedule = serializers.IntegerField(
        source="schedule_minutes",
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_SCHEDULE_MINUTES,
        help_text="Minutes between runs (at most a year), or null.",
    )
    settings = serializers.JSONField(
        required=False,
        help_text="Source-specific options (keys per source type; see README). Users who may not edit "
        "the feed see only `demo`.",
    )
    shared_with = _UsernameListField(
        child=serializers.CharField(max_length=150),
        required=False,
        max_length=100,
        help_text="Usernames who may edit and start the feed besides its owner and staff. "
        "Set by the owner or staff.",
    )
    owner = serializers.CharField(source="owner.username", read_only=True, default=None)
    credentials = serializers.SerializerMethodField()
    last_run = serializers.SerializerMethodField()
    has_upload = serializers.SerializerMethodField()
    can_edit = serializers.SerializerMethodField()

    class Meta:
        model = ThreatFeed
        fields = [
            "id", "name", "source_type", "url", "collection_id", "username", "password", "api_key",
            "credentials", "page_size", "schedule", "is_active", "auto_resume", "settings", "owner",
            "shared_with", "can_edit", "has_upload", "cursor", "last_run", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "owner", "cursor", "last_run", "created_at"]

    def _user(self) -> Any:
        return getattr(self.context.get("request"), "user", None)

    def to_representation(self, feed: ThreatFeed) -> dict[str, Any]:
        data = super().to_representation(feed)
        if not data["can_edit"]:
            data["settings"] = visible_settings(feed.settings)
        return data

    def get_can_edit(self, feed: ThreatFeed) -> bool:
        user = self._user()
        return bool(user is not None and can_edit_feed(user, feed))

    def get_has_upload(self, feed: ThreatFeed) -> bool:
        return bool(feed.upload_file)

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

    def validate_shared_with(self, value: list[str]) -> list[Any]:
        names = set(value)
        users = list(get_user_model().objects.filter(username__in=names))
        missing = names - {user.get_username() for user in users}
        if missing:
            raise serializers.ValidationError(f"unknown users: {', '.join(sorted(missing)[:10])}.")
        return users

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        from threat_feeds.sources.netguard import check_url

        user = self._user()
        if self.instance is not None and not can_manage_feed(user, self.instance):
            changed = [name for name in MANAGER_FIELDS if name in self.initial_data]
            if changed:
                raise NotAllowed(
                    f"Only the feed's owner or staff may change {', '.join(changed)}.",
                    code="owner_only_field",
                )
        source_type = attrs.get("source_type", getattr(self.instance, "source_type", None))
        if "settings" in attrs:
            problems = validate_feed_settings(
                attrs["settings"],
                source_type=source_type,
                previous=getattr(self.instance, "settings", None),
                is_staff=bool(user is not None and user.is_staff),
            )
            if problems:
                raise serializers.ValidationError({"settings": problems})
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

    def create(self, validated_data: dict[str, Any]) -> ThreatFeed:
        members = validated_data.pop("shared_with", None)
        feed = super().create(validated_data)
        if members is not None:
            feed.shared_with.set(members)
        return feed

    def update(self, instance: ThreatFeed, validated_data: dict[str, Any]) -> ThreatFeed:
        members = validated_data.pop("shared_with", None)
        feed = super().update(instance, validated_data)
        if members is not None:
            feed.shared_with.set(members)
        return feed


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
