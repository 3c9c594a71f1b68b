"""The portal's URLs plus two floors measured on the same server: a bare DRF view and a DRF
view that reads one row by primary key (no authentication, no policy, no throttle)."""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from jobportal.urls import urlpatterns as portal_urlpatterns
from jobs.models import Command


class Bare(APIView):
    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    def get(self, request):
        return Response({"ok": True})


class OneRow(Bare):
    def get(self, request, pk):
        return Response({"status": Command.objects.values_list("status", flat=True).get(pk=pk)})


urlpatterns = [
    path("bench/bare", Bare.as_view()),
    path("bench/row/<int:pk>", OneRow.as_view()),
    *portal_urlpatterns,
]
