"""HTTP around stored results: query parameters, page links, download renderers and streamed
responses, and the answers to :mod:`jobs.results`' errors (409 without a result, 400 for a bad
cursor or range)."""

import json
from contextlib import contextmanager

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse
from rest_framework import exceptions, renderers
from rest_framework.utils.urls import remove_query_param, replace_query_param

from jobportal.limits import MAX_BIGINT
from jobportal.problems import Conflict
from jobs import results
from jobs.models import CommandType


@contextmanager
def result_errors():
    """:class:`jobs.results.NoResult` is a 409, :class:`jobs.results.BadCursor` a 400."""
    try:
        yield
    except results.NoResult as exc:
        raise Conflict(str(exc)) from exc
    except results.BadCursor as exc:
        raise exceptions.ValidationError({"cursor": [str(exc)]}) from exc


def require_done(command):
    with result_errors():
        results.require_done(command)


def whole_param(params, name, default, minimum=0):
    """Query parameter ``name`` as a whole number ≥ ``minimum`` (400 naming it otherwise)."""
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise exceptions.ValidationError({name: "A whole number."}) from exc
    if value < minimum:
        raise exceptions.ValidationError({name: f"At least {minimum}."})
    if value > MAX_BIGINT:  # no database column holds more, and no result is that long
        raise exceptions.ValidationError({name: f"At most {MAX_BIGINT}."})
    return value


def requested_range(params):
    """``(first, last)`` rows asked for: ``offset_start``/``offset_end`` (end inclusive; the
    end defaults to ``page_size`` rows) or ``cursor``/``page_size``; at most MAX_PAGE_ROWS."""
    size = whole_param(params, "page_size", results.DEFAULT_PAGE_ROWS)
    if size < 1:
        raise exceptions.ValidationError({"page_size": "At least 1."})
    if params.get("cursor"):
        first = _decode(params["cursor"])
        last = first + size - 1
    else:
        first = whole_param(params, "offset_start", 0)
        last = whole_param(params, "offset_end", first + size - 1)
        if last < first:
            raise exceptions.ValidationError(
                {"offset_end": "Must not be less than offset_start (the end is inclusive)."})
    return first, min(last, first + results.MAX_PAGE_ROWS - 1)


def _decode(cursor):
    with result_errors():
        return results.decode_cursor(cursor)


def sql_page(command, first, last, url):
    """:func:`jobs.results.sql_page` with ``next``: the link to the following page of the same
    size, made from the request's ``url``."""
    page = results.sql_page(command, first, last)
    next_url = None
    if page["next_cursor"] and url:
        next_url = remove_query_param(remove_query_param(url, "offset_start"), "offset_end")
        next_url = replace_query_param(next_url, "cursor", page["next_cursor"])
        next_url = replace_query_param(next_url, "page_size", last - first + 1)
    return {**page, "next": next_url}


# -- downloads -------------------------------------------------------------------------------


class _DownloadRenderer(renderers.BaseRenderer):
    """Lets DRF negotiate ``?format=`` / ``Accept`` for downloads. Successful downloads are
    streamed responses that skip renderers; only problem bodies are rendered here, as JSON."""

    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


class CsvRenderer(_DownloadRenderer):
    media_type = "text/csv"
    format = "csv"


class JsonDownloadRenderer(_DownloadRenderer):
    media_type = "application/json"
    format = "json"


class NdjsonRenderer(_DownloadRenderer):
    media_type = "application/x-ndjson"
    format = "ndjson"


DOWNLOAD_RENDERERS = [CsvRenderer, JsonDownloadRenderer, NdjsonRenderer]


class PiecewiseStreamingResponse(StreamingHttpResponse):
    """A streaming response over a synchronous iterator that the ASGI server reads one piece
    at a time. Django's own ``StreamingHttpResponse`` consumes a synchronous iterator whole
    into a list before sending under ASGI, which would hold a 256 MiB download in memory."""

    async def __aiter__(self):
        parts = self.streaming_content
        end = object()
        # thread_sensitive: every step on one thread, so the iterator's database reads use
        # that thread's one persistent connection.
        step = sync_to_async(next, thread_sensitive=True)
        while (part := await step(parts, end)) is not end:
            yield part


CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json",
                 "ndjson": "application/x-ndjson"}


def download_response(command, file_format):
    """A streamed download of the whole result (a shell command's stdout as text)."""
    pieces = results.download_pieces(command, file_format)
    if command.command_type == CommandType.SHELL:
        content_type, suffix = "text/plain; charset=utf-8", "txt"
    else:
        content_type, suffix = CONTENT_TYPES[file_format], file_format
    response = PiecewiseStreamingResponse(pieces, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="command-{command.pk}.{suffix}"'
    if command.command_type == CommandType.SQL:
        # Known before the first byte, so a client can tell a cut result from a cut download.
        response["X-Row-Count"] = str(command.result_row_count or 0)
        response["X-Result-Truncated"] = "true" if command.result_truncated else "false"
    return response
