"""The Ray job API's paths, exactly as Ray's client builds them (``/api/jobs/`` with its slash,
the others without), under the ``api/`` of jobportal.urls. The WebSocket
``/api/jobs/{id}/logs/tail`` is routed before Django, in jobportal.websockets."""

from django.urls import path

from jobs.compat.ray import views

urlpatterns = [
    path("version", views.VersionView.as_view(), name="ray-version"),
    path("jobs/", views.JobsView.as_view(), name="ray-jobs"),
    path("jobs/<str:ref>", views.JobView.as_view(), name="ray-job"),
    path("jobs/<str:ref>/stop", views.StopView.as_view(), name="ray-job-stop"),
    path("jobs/<str:ref>/logs", views.LogsView.as_view(), name="ray-job-logs"),
    path("packages/<str:protocol>/<str:name>", views.PackageView.as_view(),
         name="ray-package"),
]
