"""Django admin: feeds (secrets never shown), runs with their cancellation and undo records, and the store."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from threat_feeds.choices import CancelMode, RunStatus, Trigger
from threat_feeds.control.cancellation import feed_run_cancel
from threat_feeds.errors import CrispError
from threat_feeds.models import FeedRun, Indicator, ObjectProvenance, StixObject, ThreatFeed
from threat_feeds.services.feeds import feed_schedule_sync
from threat_feeds.services.undo import run_undo


class ThreatFeedForm(forms.ModelForm):
    password = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False,
                               help_text="Leave empty to keep the current value.")  # fmt: skip
    api_key = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False,
                              help_text="Leave empty to keep the current value.")  # fmt: skip

    class Meta:
        model = ThreatFeed
        exclude = ["periodic_task"]

    def clean(self) -> dict:
        data = super().clean()
        for secret in ("password", "api_key"):
            if not data.get(secret) and self.instance.pk:
                data[secret] = getattr(self.instance, secret)
        return data


@admin.register(ThreatFeed)
class ThreatFeedAdmin(admin.ModelAdmin):
    form = ThreatFeedForm
    list_display = ["name", "source_type", "url", "schedule_minutes", "is_active", "owner", "created_at"]
    list_filter = ["source_type", "is_active"]
    search_fields = ["name", "url"]

    def save_model(self, request: HttpRequest, obj: ThreatFeed, form: forms.ModelForm, change: bool) -> None:
        if obj.owner_id is None:
            obj.owner = request.user
        super().save_model(request, obj, form, change)
        feed_schedule_sync(obj)


def _cancel_action(mode: str, label: str):
    @admin.action(description=label)
    def cancel(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[FeedRun]) -> None:
        done = 0
        for run in queryset.filter(status__in=RunStatus.active()):
            try:
                feed_run_cancel(
                    run_id=run.pk, user=request.user, mode=mode, reason="admin action", source=Trigger.CLI
                )
                done += 1
            except CrispError as exc:
                modeladmin.message_user(request, f"run {run.pk}: {exc.detail}", messages.WARNING)
        modeladmin.message_user(request, f"{label}: requested for {done} run(s).")

    cancel.__name__ = f"admin_{mode}"
    return cancel


@admin.action(description="Undo selected runs (roll back finished runs)")
def admin_undo(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[FeedRun]) -> None:
    done = 0
    for run in queryset.order_by("-pk"):  # newest first: each feed's cursor can go back run by run
        try:
            run_undo(run_id=run.pk, user=request.user, reason="admin action", source=Trigger.CLI)
            done += 1
        except CrispError as exc:
            modeladmin.message_user(request, f"run {run.pk}: {exc.detail}", messages.WARNING)
    modeladmin.message_user(request, f"Undone: {done} run(s).")


@admin.register(FeedRun)
class FeedRunAdmin(admin.ModelAdmin):
    list_display = [
        "id", "feed", "status", "stage", "trigger", "requested_by", "fetched", "created", "updated",
        "invalid", "queued_at", "finished_at", "cancel_mode", "cancel_requested_by", "objects_removed",
        "undo_requested_by", "undone_at",
    ]  # fmt: skip
    list_filter = ["status", "trigger", "cancel_mode", "feed"]
    search_fields = ["task_id", "feed__name", "cancel_reason", "undo_reason"]
    readonly_fields = [f.name for f in FeedRun._meta.fields] + ["cancel_latency_ms", "undo_latency_ms"]
    actions = [_cancel_action(CancelMode.STOP_NOW, "Stop now (keep data)"),
               _cancel_action(CancelMode.CANCEL_JOB, "Cancel job (roll back)"), admin_undo]  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class ProvenanceInline(admin.TabularInline):
    model = ObjectProvenance
    extra = 0
    can_delete = False
    readonly_fields = ["run", "feed", "version", "action", "seen_at"]
    fields = readonly_fields


@admin.register(StixObject)
class StixObjectAdmin(admin.ModelAdmin):
    list_display = ["stix_id", "type", "spec_version", "modified", "updated_at"]
    list_filter = ["type", "spec_version"]
    search_fields = ["stix_id"]
    readonly_fields = [
        "stix_id",
        "type",
        "spec_version",
        "created",
        "modified",
        "first_seen_at",
        "updated_at",
        "data",
    ]
    inlines = [ProvenanceInline]


@admin.register(Indicator)
class IndicatorAdmin(admin.ModelAdmin):
    list_display = ["kind", "value", "first_seen_at", "enriched_at"]
    list_filter = ["kind"]
    search_fields = ["value"]
