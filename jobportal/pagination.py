"""Cursor pagination whose links never repeat a secret from the query string."""

from rest_framework import pagination

from jobportal.problems import public_url


class CursorPagination(pagination.CursorPagination):
    def paginate_queryset(self, queryset, request, view=None):
        page = super().paginate_queryset(queryset, request, view)
        self.base_url = public_url(request)  # next/previous links never carry an api_key
        return page
