"""URL map: admin, health, the portal API v1 with its schema and docs, the compatibility
shapes."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from jobportal.views import healthz, home

api_docs_permissions = {"authentication_classes": [], "permission_classes": []}

# Django tries patterns in order and descends into every include whose prefix matches, so an
# include at "" costs every request that reaches it. The API, the hottest paths, comes first
# under one "api/" prefix (the status reads resolve in a few microseconds instead of ~75);
# the pages, included at "", come last. No two patterns match the same path, so the order
# changes only the cost (tests/test_urls.py).
api_patterns = [
    path("v1/", include("jobs.api.urls")),
    path("v1/", include("accounts.api.urls")),
    path("v1/", include("notifications.api.urls")),
    path("v1.2/", include("jobs.compat.qubole.urls")),  # Qubole's shape (qds-sdk)
    path("", include("jobs.compat.ray.urls")),  # Ray / openYuanrong: /api/version, /api/jobs/
    path("schema/", SpectacularAPIView.as_view(**api_docs_permissions), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema", **api_docs_permissions),
         name="swagger-ui"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema", **api_docs_permissions),
         name="redoc"),
]

urlpatterns = [
    path("api/", include(api_patterns)),
    path("healthz", healthz, name="healthz"),
    path("", include("jobs.compat.supermetrics")),  # Supermetrics: /query/data/json, /query/status
    path("", include("jobs.compat.toolkit")),  # analytics toolkit: /v1/save, /v1/query, /v1/jobs
    path("", home, name="home"),
    path("accounts/", include("accounts.page_urls")),
    path("admin/", admin.site.urls),
    path("", include("jobs.pages.urls")),
]

handler404 = "jobportal.problems.handler404"
handler500 = "jobportal.problems.handler500"
