"""The Ray job API's paths, exactly as Ray's client builds them (``/api/jobs/`` with its slash,
the others without). The WebSocket ``/api/jobs/{id}/logs/tail`` is routed before Django, in
jobportal.websockets."""

from django.urls import path

from jobs.compat.ray import views

urlpatterns = [
    path("api/version", views.VersionView.as_view(), name="ray-version"),
    path("api/jobs/", views.JobsView.as_view(), name="ray-jobs"),
    path("api/jobs/<str:ref>", views.JobView.as_view(), name="ray-job"),
    path("api/jobs/<str:ref>/stop", views.StopView.as_view(), name="ray-job-stop"),
    path("api/jobs/<str:ref>/logs", views.LogsView.as_view(), name="ray-job-logs"),
    path("api/packages/<str:protocol>/<str:name>", views.PackageView.as_view(),
         name="ray-package"),
]
