"""Reading a finished command's result: pages by row range or cursor, streamed downloads.

A SQL result is stored as :class:`~jobs.models.ResultChunk` rows. A page reads only the chunks
that overlap it, in one indexed query, so row 150,000 costs what row 0 costs. Ranges are
zero-based with an INCLUSIVE end, as Supermetrics defines ``offset_start`` / ``offset_end``.
Downloads (CSV, JSON, NDJSON) are generators that read a few chunks at a time, never the whole
result. Nothing here speaks HTTP: parameters, links, renderers and responses live in
:mod:`jobs.api.results`; the errors are :class:`NoResult` and :class:`BadCursor`. A shell
command's result is its stdout (Qubole's convention), read through :mod:`jobs.logs`.
"""

import base64
import binascii
import csv
import io
import json

from django.db.models import Subquery

from jobportal.limits import MAX_BIGINT, MAX_CURSOR_CHARS
from jobs.logs import read_log
from jobs.models import CommandType, ResultChunk, Status

DEFAULT_PAGE_ROWS = 1000
MAX_PAGE_ROWS = 10_000
CHUNKS_PER_QUERY = 20  # downloads: rows held at once = this x RESULT_CHUNK_ROWS at most
ROWS_PER_WRITE = 500  # downloads: rows encoded per piece handed to the server
TEXT_PIECE_BYTES = 256 * 1024


class NoResult(Exception):
    """The command has no result (yet): it has not finished, or it did not succeed."""


class BadCursor(ValueError):
    """Not a cursor of this result."""


def require_done(command):
    """Raise :class:`NoResult` unless the command finished successfully: a running command has
    no result yet, and a failed or cancelled one never has one (its partial rows are dropped)."""
    if command.status != Status.DONE:
        state = "has not finished" if not command.is_terminal else "did not succeed"
        raise NoResult(f"Command {command.pk} is {command.status}: it {state}, so it has no "
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
    """The row offset of a cursor from :func:`encode_cursor`; :class:`BadCursor` otherwise."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise BadCursor(f"Longer than {MAX_CURSOR_CHARS} characters: not a cursor of this API.")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        offset = int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        offset, kind = -1, ""
    if kind != "row" or not 0 <= offset <= MAX_BIGINT:
        raise BadCursor("Not a cursor of this result.")
    return offset


def sql_page(command, first, last):
    """The page of rows ``first`` .. ``last`` of a finished SQL command, with the cursor and
    offset of the following page of the same size (surfaces add their own links)."""
    total = command.result_row_count or 0
    rows = read_rows(command.pk, first, min(last, total - 1)) if first < total else []
    end = first + len(rows) - 1 if rows else None
    more = end is not None and end + 1 < total
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


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def column_names(command):
    """The names of a SQL command's result columns, in order."""
    return [column["name"] for column in command.result_columns or []]


def csv_pieces(command):
    """A header line, then the rows as CSV, ROWS_PER_WRITE rows per piece."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(column_names(command))
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


def unique_keys(names):
    """Object keys for rows as objects (NDJSON, Supermetrics' status): a repeated column name
    gets a suffix (_2, _3, ...)."""
    seen, keys = {}, []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        keys.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return keys


def ndjson_pieces(command):
    """One JSON object per row, keyed by column name."""
    keys = unique_keys(column_names(command))
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


DOWNLOADS = {"csv": csv_pieces, "json": json_pieces, "ndjson": ndjson_pieces}


def download_pieces(command, file_format):
    """The whole result as pieces of text in ``file_format`` (csv, json, ndjson); a shell
    command's result is its stdout, whatever the format."""
    if command.command_type == CommandType.SHELL:
        return stdout_pieces(command)
    return DOWNLOADS[file_format](command)
