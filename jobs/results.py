"""Reading a finished command's result: pages by row range or cursor, streamed downloads.

A SQL result is stored as :class:`~jobs.models.ResultChunk` rows. A page reads only the chunks
that overlap it, in one indexed query, so row 150,000 costs what row 0 costs. Ranges are
zero-based with an INCLUSIVE end, as Supermetrics defines ``offset_start`` / ``offset_end``.
Downloads (CSV, JSON, NDJSON) are generators that read a few chunks at a time, never the whole
result. A shell command's result is its stdout (Qubole's convention), read through
:mod:`jobs.logs`.
"""

import base64
import binascii
import csv
import io
import json

from django.db.models import Subquery
from django.http import StreamingHttpResponse
from rest_framework import exceptions, renderers
from rest_framework.utils.urls import remove_query_param, replace_query_param

from jobportal.pagination import MAX_BIGINT, check_cursor_length
from jobportal.problems import Conflict
from jobs.logs import read_log
from jobs.models import CommandType, ResultChunk, Status

DEFAULT_PAGE_ROWS = 1000
MAX_PAGE_ROWS = 10_000
CHUNKS_PER_QUERY = 20  # downloads: rows held at once = this x RESULT_CHUNK_ROWS at most
ROWS_PER_WRITE = 500  # downloads: rows encoded per piece handed to the server
TEXT_PIECE_BYTES = 256 * 1024


def require_done(command):
    """409 unless the command finished successfully: a running command has no result yet, and a
    failed or cancelled one never has one (its partial rows are dropped)."""
    if command.status != Status.DONE:
        state = "has not finished" if not command.is_terminal else "did not succeed"
        raise Conflict(f"Command {command.pk} is {command.status}: it {state}, so it has no "
                       "result. Results are available once its status is done.")


# -- reading rows ----------------------------------------------------------------------------


def page_chunks(command_id, first, last):
    """``(row_start, rows)`` of the chunks overlapping rows ``first`` .. ``last``: from the one
    holding ``first`` (an index probe in a subquery) up to the one holding ``last``."""
    holder = (ResultChunk.objects.filter(command_id=command_id, row_start__lte=first)
              .order_by("-row_start").values("row_start")[:1])
    return (ResultChunk.objects
            .filter(command_id=command_id, row_start__gte=Subquery(holder), row_start__lte=last)
            .order_by("row_start").values_list("row_start", "rows"))


def read_rows(command_id, first, last):
    """Rows ``first`` .. ``last`` (zero-based, inclusive), in one query."""
    if last < first:
        return []
    out = []
    for start, rows in page_chunks(command_id, first, last):
        out.extend(rows[max(first - start, 0): last - start + 1])
    return out


def iter_rows(command_id):
    """Every row in order, CHUNKS_PER_QUERY chunks per query (keyset paging on row_start, so
    no cursor stays open while a slow client downloads)."""
    after = -1
    while True:
        batch = list(ResultChunk.objects.filter(command_id=command_id, row_start__gt=after)
                     .order_by("row_start").values_list("row_start", "rows")[:CHUNKS_PER_QUERY])
        if not batch:
            return
        for _, rows in batch:
            yield from rows
        after = batch[-1][0]


# -- pages -----------------------------------------------------------------------------------


def encode_cursor(offset):
    """An opaque cursor for the page starting at row ``offset``."""
    return base64.urlsafe_b64encode(f"row:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor):
    """The row offset of a cursor from :func:`encode_cursor`; 400 for anything else."""
    check_cursor_length(cursor)
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        offset = int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        offset, kind = -1, ""
    if kind != "row" or not 0 <= offset <= MAX_BIGINT:
        raise exceptions.ValidationError({"cursor": "Not a cursor of this result."})
    return offset


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
    size = whole_param(params, "page_size", DEFAULT_PAGE_ROWS)
    if size < 1:
        raise exceptions.ValidationError({"page_size": "At least 1."})
    if params.get("cursor"):
        first = decode_cursor(params["cursor"])
        last = first + size - 1
    else:
        first = whole_param(params, "offset_start", 0)
        last = whole_param(params, "offset_end", first + size - 1)
        if last < first:
            raise exceptions.ValidationError(
                {"offset_end": "Must not be less than offset_start (the end is inclusive)."})
    return first, min(last, first + MAX_PAGE_ROWS - 1)


def sql_page(command, first, last, url=None):
    """The page body of rows ``first`` .. ``last`` of a finished SQL command; ``next`` is the
    cursor link to the following page of the same size, made from the request's ``url``."""
    total = command.result_row_count or 0
    rows = read_rows(command.pk, first, min(last, total - 1)) if first < total else []
    end = first + len(rows) - 1 if rows else None
    more = end is not None and end + 1 < total
    next_url = None
    if more and url:
        next_url = remove_query_param(remove_query_param(url, "offset_start"), "offset_end")
        next_url = replace_query_param(next_url, "cursor", encode_cursor(end + 1))
        next_url = replace_query_param(next_url, "page_size", last - first + 1)
    return {
        "command_type": command.command_type,
        "columns": command.result_columns or [],
        "rows": rows,
        "row_count": total,
        "truncated": command.result_truncated,
        "offset_start": first,
        "offset_end": end,
        "next_offset": end + 1 if more else None,
        "next_cursor": encode_cursor(end + 1) if more else None,
        "next": next_url,
    }


def shell_page(command, offset, limit):
    """``limit`` bytes of a shell command's stdout from byte ``offset``."""
    page = read_log(command.pk, offset, limit, stream="stdout")
    return {
        "command_type": command.command_type,
        "result": page.data.decode("utf-8", errors="replace"),
        "offset": page.offset,
        "next_offset": page.next_offset,
        "more": len(page.data) == limit,
    }


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


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def _column_names(command):
    return [column["name"] for column in command.result_columns or []]


def csv_pieces(command):
    """A header line, then the rows as CSV, ROWS_PER_WRITE rows per piece."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(_column_names(command))
    for index, row in enumerate(iter_rows(command.pk), start=1):
        writer.writerow([_csv_cell(value) for value in row])
        if index % ROWS_PER_WRITE == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def json_pieces(command):
    """One JSON document shaped like a page holding every row, written as it is read."""
    head = {"columns": command.result_columns or [], "row_count": command.result_row_count or 0,
            "truncated": command.result_truncated}
    yield json.dumps(head)[:-1] + ', "rows": ['
    piece = []
    for index, row in enumerate(iter_rows(command.pk)):
        piece.append(("," if index else "") + json.dumps(row, ensure_ascii=False))
        if len(piece) == ROWS_PER_WRITE:
            yield "".join(piece)
            piece = []
    yield "".join(piece) + "]}\n"


def _unique_keys(names):
    """Object keys for NDJSON: a repeated column name gets a suffix (_2, _3, ...)."""
    seen, keys = {}, []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        keys.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return keys


def ndjson_pieces(command):
    """One JSON object per row, keyed by column name."""
    keys = _unique_keys(_column_names(command))
    piece = []
    for row in iter_rows(command.pk):
        piece.append(json.dumps(dict(zip(keys, row, strict=False)), ensure_ascii=False) + "\n")
        if len(piece) == ROWS_PER_WRITE:
            yield "".join(piece)
            piece = []
    yield "".join(piece)


def stdout_pieces(command):
    """A shell command's stdout, TEXT_PIECE_BYTES at a time."""
    offset = 0
    while True:
        page = read_log(command.pk, offset, TEXT_PIECE_BYTES, stream="stdout")
        if not page.data:
            return
        yield page.data
        offset = page.next_offset


DOWNLOADS = {
    "csv": (csv_pieces, "text/csv; charset=utf-8"),
    "json": (json_pieces, "application/json"),
    "ndjson": (ndjson_pieces, "application/x-ndjson"),
}


def download_response(command, file_format):
    """A streamed download of the whole result (a shell command's stdout as text)."""
    if command.command_type == CommandType.SHELL:
        pieces, content_type, suffix = stdout_pieces(command), "text/plain; charset=utf-8", "txt"
    else:
        make, content_type = DOWNLOADS[file_format]
        pieces, suffix = make(command), file_format
    response = StreamingHttpResponse(pieces, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="command-{command.pk}.{suffix}"'
    if command.command_type == CommandType.SQL:
        # Known before the first byte, so a client can tell a cut result from a cut download.
        response["X-Row-Count"] = str(command.result_row_count or 0)
        response["X-Result-Truncated"] = "true" if command.result_truncated else "false"
    return response
