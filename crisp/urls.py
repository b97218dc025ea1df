"""URLs: the REST API under /api/, the TAXII 2.1 server under /taxii2/, OpenAPI + Swagger, admin, and the dashboard at /."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from threat_feeds.api.auth import session_urlpatterns
from threat_feeds.dashboard import dashboard_index

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/", include("threat_feeds.api.urls")),
    path("api-auth/", include(session_urlpatterns)),
    path("taxii2/", include("threat_feeds.taxii.urls")),
    re_path(r"^(?!api/|admin/|static/|taxii2/).*$", dashboard_index, name="dashboard"),
]

handler400 = "threat_feeds.api.error_views.bad_request"
handler403 = "threat_feeds.api.error_views.permission_denied"
handler404 = "threat_feeds.api.error_views.page_not_found"
handler500 = "threat_feeds.api.error_views.server_error"
