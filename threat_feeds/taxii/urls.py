"""/taxii2/: discovery, one API root ("crisp"), its collections and their objects."""

from django.urls import path

from threat_feeds.taxii import views
from threat_feeds.taxii.backend import API_ROOT

collection = f"{API_ROOT}/collections/<str:collection_id>/"
urlpatterns = [
    path("", views.DiscoveryView.as_view(), name="taxii-discovery"),
    path(f"{API_ROOT}/", views.ApiRootView.as_view(), name="taxii-api-root"),
    path(f"{API_ROOT}/collections/", views.CollectionsView.as_view(), name="taxii-collections"),
    path(collection, views.CollectionView.as_view(), name="taxii-collection"),
    path(f"{collection}objects/", views.ObjectsView.as_view(), name="taxii-objects"),
    path(f"{collection}objects/<str:object_id>/", views.ObjectView.as_view(), name="taxii-object"),
    path(
        f"{collection}objects/<str:object_id>/versions/",
        views.ObjectVersionsView.as_view(),
        name="taxii-object-versions",
    ),
    path(f"{collection}manifest/", views.ManifestView.as_view(), name="taxii-manifest"),
]
