"""Query filters for runs and the store."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import QuerySet

from threat_feeds.choices import RunStatus
from threat_feeds.models import FeedRun, Indicator, StixObject

MAX_ID = 2**63 - 1  # the largest value a bigint column holds (PostgreSQL and SQLite alike)


class IdFilter(django_filters.NumberFilter):
    """A database id: an integer that fits the column (99999999999999999999 is a 400, not a 500)."""

    field_class = forms.IntegerField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class RunFilter(django_filters.FilterSet):
    active = django_filters.BooleanFilter(method="filter_active")
    feed = IdFilter(field_name="feed_id")
    status = django_filters.MultipleChoiceFilter(choices=RunStatus.choices)
    user = django_filters.CharFilter(field_name="requested_by__username")

    class Meta:
        model = FeedRun
        fields = ["active", "feed", "status", "user", "trigger"]

    def filter_active(self, qs: QuerySet[FeedRun], name: str, value: bool | None) -> QuerySet[FeedRun]:
        if value is None:
            return qs
        return (
            qs.filter(status__in=RunStatus.active()) if value else qs.exclude(status__in=RunStatus.active())
        )


class StixObjectFilter(django_filters.FilterSet):
    type = django_filters.CharFilter()
    stix_id = django_filters.CharFilter()
    feed = IdFilter(field_name="provenance__feed_id", distinct=True)
    run = IdFilter(field_name="provenance__run_id", distinct=True)
    task_id = django_filters.UUIDFilter(field_name="provenance__run__task_id", distinct=True)
    search = django_filters.CharFilter(method="filter_search")

    class Meta:
        model = StixObject
        fields = ["type", "stix_id", "spec_version", "feed", "run", "task_id"]

    def filter_search(self, qs: QuerySet[StixObject], name: str, value: str) -> QuerySet[StixObject]:
        return qs.filter(stix_id__icontains=value) | qs.filter(data__name__icontains=value)


class IndicatorFilter(django_filters.FilterSet):
    kind = django_filters.CharFilter()
    value = django_filters.CharFilter()
    value_contains = django_filters.CharFilter(field_name="value", lookup_expr="icontains")
    feed = IdFilter(field_name="provenance__feed_id", distinct=True)
    run = IdFilter(field_name="provenance__run_id", distinct=True)
    task_id = django_filters.UUIDFilter(field_name="provenance__run__task_id", distinct=True)

    class Meta:
        model = Indicator
        fields = ["kind", "value", "feed", "run", "task_id"]
