"""The floor's views and URLs (served by bench/floor.py)."""

from django.db import connection
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView


def _rows(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class Plain(APIView):
    authentication_classes = []
    permission_classes = []
    throttle_classes = []


class OneRow(Plain):
    def get(self, request, pk):
        return Response(_rows("SELECT * FROM jobs_command WHERE id = %s", [pk])[0])


class FiftyRows(Plain):
    def get(self, request):
        return Response(_rows("SELECT * FROM jobs_command ORDER BY id DESC LIMIT 50"))


urlpatterns = [
    path("floor/commands/<int:pk>/", OneRow.as_view()),
    path("floor/commands/", FiftyRows.as_view()),
]
