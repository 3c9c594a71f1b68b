"""URL map: admin, health, the portal API v1 with its schema and docs, the compatibility
shapes."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from jobportal.views import healthz, home

api_docs_permissions = {"authentication_classes": [], "permission_classes": []}

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/", include("accounts.page_urls")),
    path("", include("jobs.pages.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("jobs.api.urls")),
    path("api/v1/", include("notifications.api.urls")),
    path("api/v1.2/", include("jobs.compat.qubole.urls")),  # Qubole's shape (qds-sdk)
    path("", include("jobs.compat.ray.urls")),  # Ray / openYuanrong: /api/version, /api/jobs/
    path("api/schema/", SpectacularAPIView.as_view(**api_docs_permissions), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", **api_docs_permissions),
         name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema", **api_docs_permissions),
         name="redoc"),
    path("", include("jobs.compat.supermetrics")),  # Supermetrics: /query/data/json, /query/status
    path("", include("jobs.compat.toolkit")),  # analytics toolkit: /v1/save, /v1/query, /v1/jobs
]

handler404 = "jobportal.problems.handler404"
handler500 = "jobportal.problems.handler500"
