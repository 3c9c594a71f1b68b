"""Cursor pagination whose links never repeat a secret from the query string, and whose
cursors are checked before they reach a query: a cursor that is too long, not one of ours,
or holds a position the ordering column cannot hold (text for an id, a NUL, a number past
64 bits) is a 400 naming ``cursor``, never a 404 or a database error."""

from django.db import models
from rest_framework import exceptions, pagination

from jobportal.limits import MAX_BIGINT, MAX_CURSOR_CHARS
from jobportal.problems import public_url

# URLs as a whole are limited by the web server (docs/api.md).


def refuse_cursor(message="Not a cursor of this list."):
    raise exceptions.ValidationError({"cursor": [message]})


def check_cursor_length(encoded):
    """400 for a cursor longer than any this API hands out."""
    if encoded is not None and len(encoded) > MAX_CURSOR_CHARS:
        refuse_cursor(f"Longer than {MAX_CURSOR_CHARS} characters: not a cursor of this API.")


class CursorPagination(pagination.CursorPagination):
    def paginate_queryset(self, queryset, request, view=None):
        self.model = queryset.model
        page = super().paginate_queryset(queryset, request, view)
        self.base_url = public_url(request)  # next/previous links never carry an api_key
        return page

    def decode_cursor(self, request):
        check_cursor_length(request.query_params.get(self.cursor_query_param))
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            refuse_cursor()
        if cursor is not None and cursor.position is not None:
            self._check_position(cursor.position)
        return cursor

    def _check_position(self, position):
        if "\x00" in position:
            refuse_cursor()
        name = self.ordering[0].lstrip("-") if self.ordering else None
        meta = self.model._meta
        field = meta.pk if name == "pk" else meta.get_field(name) if name else None
        if isinstance(field, models.IntegerField):
            try:
                number = int(position)
            except ValueError:
                refuse_cursor()
            if abs(number) > MAX_BIGINT:
                refuse_cursor()
