"""REST endpoints (SPEC §6). Views parse and authorise; services do the work."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from threat_feeds import selectors
from threat_feeds.api import serializers as s
from threat_feeds.api.filters import MAX_ID, IndicatorFilter, RunFilter, StixObjectFilter
from threat_feeds.api.parsers import BoundedJSONParser
from threat_feeds.api.permissions import FeedPermission
from threat_feeds.api.throttles import CancelRateThrottle
from threat_feeds.choices import SourceType, Trigger
from threat_feeds.control import progress
from threat_feeds.control.cancellation import feed_run_cancel
from threat_feeds.errors import InvalidInput, StateConflict
from threat_feeds.models import FeedRun, Indicator, StixObject, ThreatFeed
from threat_feeds.services.feeds import feed_delete, feed_schedule_sync
from threat_feeds.services.runs import feed_run_start
from threat_feeds.services.undo import run_undo
from threat_feeds.services.uploads import feed_store_upload


def _trigger(request: Request) -> str:
    # The dashboard authenticates with the session; scripts with a token.
    return Trigger.DASHBOARD if request.auth is None else Trigger.API


class _IdLookup:
    """Detail routes take a database id: digits only, and never beyond a bigint (404, not a 500)."""

    lookup_value_regex = r"\d+"
    kwargs: dict[str, Any]

    def get_object(self) -> Any:
        if int(self.kwargs.get("pk") or 0) > MAX_ID:
            raise Http404
        return super().get_object()  # type: ignore[misc]


class ThreatFeedViewSet(_IdLookup, viewsets.ModelViewSet):
    serializer_class = s.ThreatFeedSerializer
    permission_classes = [*viewsets.ModelViewSet.permission_classes, FeedPermission]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    parser_classes = [BoundedJSONParser, MultiPartParser, FormParser]

    def get_queryset(self) -> QuerySet[ThreatFeed]:
        return selectors.feeds_visible_to(self.request.user)

    def perform_create(self, serializer: s.ThreatFeedSerializer) -> None:
        feed_schedule_sync(serializer.save(owner=self.request.user))

    def perform_update(self, serializer: s.ThreatFeedSerializer) -> None:
        feed_schedule_sync(serializer.save())

    def perform_destroy(self, instance: ThreatFeed) -> None:
        if selectors.active_run(instance.pk):
            raise StateConflict("cancel the feed's active run before deleting it", code="run_active")
        feed_delete(instance)

    @extend_schema(request=None, responses={202: s.RunSnapshotSerializer})
    @action(detail=True, methods=["post"])
    def consume(self, request: Request, pk: str | None = None) -> Response:
        run = feed_run_start(feed=self.get_object(), user=request.user, trigger=_trigger(request))
        run = FeedRun.objects.select_related("feed", "requested_by").get(pk=run.pk)
        return Response(s.run_snapshot(run, user=request.user), status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.CancelRequestSerializer, responses={202: s.RunSnapshotSerializer})
    @action(detail=True, methods=["post"], throttle_classes=[CancelRateThrottle])
    def cancel_consumption(self, request: Request, pk: str | None = None) -> Response:
        feed = self.get_object()
        body = s.CancelRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        active = selectors.active_run(feed.pk)
        if active is None:
            raise StateConflict(f"feed '{feed.name}' has no active run", code="no_active_run")
        run = feed_run_cancel(
            run_id=active.pk, user=request.user, source=_trigger(request), **body.validated_data
        )
        return Response(s.run_snapshot(run, user=request.user), status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        }
    )
    @action(detail=True, methods=["post"])
    def upload(self, request: Request, pk: str | None = None) -> Response:
        feed = self.get_object()
        if feed.source_type != SourceType.STIX_BUNDLE:
            raise InvalidInput("only STIX bundle feeds take an uploaded bundle", code="wrong_source_type")
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput("send the bundle as multipart field 'file'", code="file_missing")
        feed_store_upload(feed, upload)
        return Response(self.get_serializer(feed).data, status=status.HTTP_200_OK)


class MeView(GenericAPIView):
    """Who is logged in: the dashboard decides what to offer from this."""

    @extend_schema(
        responses={
            200: {
                "type": "object",
                "properties": {"username": {"type": "string"}, "is_staff": {"type": "boolean"}},
            }
        }
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "id": request.user.pk,
                "username": request.user.get_username(),
                "is_staff": request.user.is_staff,
            }
        )


class TaskStatusView(GenericAPIView):
    """The run's live snapshot from Redis (no query), or from the database when Redis has none."""

    serializer_class = s.RunSnapshotSerializer

    def get(self, request: Request, task_id: str) -> Response:
        live = progress.read_snapshot(str(task_id))
        if live is not None and live.visible_to(request.user):
            return Response(live.for_user(request.user))
        run = get_object_or_404(selectors.runs_visible_to(request.user), task_id=task_id)
        return Response(s.run_snapshot(run, user=request.user))


class CancelTaskView(GenericAPIView):
    serializer_class = s.CancelRequestSerializer
    throttle_classes = [CancelRateThrottle]

    @extend_schema(responses={202: s.RunSnapshotSerializer})
    def post(self, request: Request, task_id: str) -> Response:
        run = get_object_or_404(FeedRun, task_id=task_id)
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = feed_run_cancel(
            run_id=run.pk, user=request.user, source=_trigger(request), **body.validated_data
        )
        run = selectors.runs_visible_to(request.user).get(pk=run.pk)
        return Response(s.run_snapshot(run, user=request.user), status=status.HTTP_202_ACCEPTED)


class UndoTaskView(GenericAPIView):
    """Undo a finished run: its writes are rolled back as by cancel_job; status becomes `undone`."""

    serializer_class = s.UndoRequestSerializer
    throttle_classes = [CancelRateThrottle]

    @extend_schema(responses={202: s.RunSnapshotSerializer})
    def post(self, request: Request, task_id: str) -> Response:
        run = get_object_or_404(FeedRun, task_id=task_id)
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = run_undo(run_id=run.pk, user=request.user, source=_trigger(request), **body.validated_data)
        run = selectors.runs_visible_to(request.user).get(pk=run.pk)
        return Response(s.run_snapshot(run, user=request.user), status=status.HTTP_202_ACCEPTED)


@extend_schema(parameters=[OpenApiParameter("active", bool)])
class TaskListView(ListAPIView):
    serializer_class = s.RunSnapshotSerializer
    filterset_class = RunFilter

    def get_queryset(self) -> QuerySet[FeedRun]:
        return selectors.runs_visible_to(self.request.user).order_by("-queued_at", "-id")


class StixObjectViewSet(_IdLookup, viewsets.ReadOnlyModelViewSet):
    filterset_class = StixObjectFilter

    def get_queryset(self) -> QuerySet[StixObject]:
        return StixObject.objects.all()

    def get_serializer_class(self) -> Any:
        return s.StixObjectDetailSerializer if self.action == "retrieve" else s.StixObjectSerializer


class IndicatorViewSet(_IdLookup, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    filterset_class = IndicatorFilter

    def get_queryset(self) -> QuerySet[Indicator]:
        return Indicator.objects.all()

    def get_serializer_class(self) -> Any:
        return s.IndicatorDetailSerializer if self.action == "retrieve" else s.IndicatorSerializer
