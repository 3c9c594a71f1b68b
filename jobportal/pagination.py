"""Cursor pagination whose links never repeat a secret from the query string."""

from rest_framework import exceptions, pagination

from jobportal.problems import public_url


class CursorPagination(pagination.CursorPagination):
    def decode_cursor(self, request):
        """A cursor that is not one of ours is bad input (400 naming it), not a missing page."""
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound as exc:
            raise exceptions.ValidationError(
                {self.cursor_query_param: ["Not a cursor of this list."]}) from exc

    def paginate_queryset(self, queryset, request, view=None):
        page = super().paginate_queryset(queryset, request, view)
        self.base_url = public_url(request)  # next/previous links never carry an api_key
        return page
