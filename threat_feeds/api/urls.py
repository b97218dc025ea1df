from django.urls import include, path
from rest_framework.routers import DefaultRouter

from threat_feeds.api import export, stream, views
from threat_feeds.api.auth import TokenObtainView

router = DefaultRouter()
router.register("threat-feeds", views.ThreatFeedViewSet, basename="threat-feed")
router.register("stix-objects", views.StixObjectViewSet, basename="stix-object")
router.register("indicators", views.IndicatorViewSet, basename="indicator")

urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("auth/me/", views.MeView.as_view(), name="api-me"),
    path("threat-feeds/task-status/<uuid:task_id>/", views.TaskStatusView.as_view(), name="task-status"),
    path("threat-feeds/cancel-task/<uuid:task_id>/", views.CancelTaskView.as_view(), name="cancel-task"),
    path("threat-feeds/tasks/", views.TaskListView.as_view(), name="task-list"),
    path("threat-feeds/tasks/stream/", stream.task_stream, name="task-stream"),
    path("threat-feeds/tasks/<uuid:task_id>/undo/", views.UndoTaskView.as_view(), name="task-undo"),
    # Before the router: "export" would otherwise be taken for an object id.
    path("stix-objects/export/", export.StixObjectExportView.as_view(), name="stix-object-export"),
    path("indicators/export/", export.IndicatorExportView.as_view(), name="indicator-export"),
    path("", include(router.urls)),
]
