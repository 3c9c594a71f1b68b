"""Supermetrics' replies and views: the bodies, the errors in Supermetrics' words, the two
endpoints. What a request asks for is read in :mod:`.request`."""

import re
import secrets
from http import HTTPStatus
from urllib.parse import urlencode

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.response import Response

from accounts.authentication import membership_of
from jobportal import problems
from jobs import reads, results, statuses
from jobs.compat import http
from jobs.compat.supermetrics import schema
from jobs.compat.supermetrics.request import (
    MAX_ID_CHARS,
    SCHEDULE_ID_RE,
    DataQuery,
    StatusNotFound,
    find,
    query_object,
    start,
    status_fields,
    token_from_fields,
    validated,
)
from jobs.models import Status

MAX_COUNT = 10_000  # progress counters and X-RateLimit-* values, as documented
MAX_TASKS = 1_000


def _bounded(value, ceiling):
    return max(0, min(int(value or 0), ceiling))


def schedule_id_of(command):
    """The command's schedule id: its submission id, or its alias where Supermetrics' pattern
    cannot spell that (ids from other shapes may hold ``.`` or ``:``)."""
    sid = command.submission_id
    if len(sid) <= MAX_ID_CHARS and SCHEDULE_ID_RE.match(sid):
        return sid
    return f"cmd-{command.pk}"


def meta(command):
    """``meta`` of a reply about ``command``: a new request id each time, the schedule id, the
    status word; why it failed or stopped, if it did."""
    word = statuses.word(statuses.Shape.SUPERMETRICS, command.status, command.throttled)
    data = {"request_id": f"cmd-{command.pk}-{secrets.token_hex(8)}",
            "schedule_id": schedule_id_of(command), "status_code": word}
    if command.status in (Status.ERROR, Status.CANCELLED):
        data["error"] = {"code": command.error_type or "Stopped",
                         "message": command.error_message or "The query was stopped."}
    return data


def status_body(command, member, rows):
    """Status, progress (statements done of total, as the worker records them), the account's
    queue and ``rows`` (empty until SUCCESS)."""
    # A command found by its schedule id was read with its account's queue (jobs.reads).
    queue = getattr(command, "extras", ())
    scheduled, running = queue if len(queue) == 2 else reads.queue_counts(member.account_id)
    ready = _bounded(command.statements_done, MAX_COUNT)
    return {
        "meta": meta(command),
        "progress": {"queries_ready": ready,
                     "queries_total": max(ready, _bounded(command.statements_total, MAX_COUNT))},
        "workflow": {"tasks_scheduled": _bounded(scheduled, MAX_TASKS),
                     "tasks_running": _bounded(running, MAX_TASKS)},
        "data": rows,
    }


def page(command, query):
    """The page the query asks for (None unless the command succeeded): offsets inclusive,
    at most 10,000 rows (or ``max_rows``)."""
    if command.status != Status.DONE:
        return None
    first = query["offset_start"]
    size = min(results.MAX_PAGE_ROWS, query.get("max_rows") or results.MAX_PAGE_ROWS)
    last = min(query.get("offset_end", first + size - 1), first + size - 1)
    return results.sql_page(command, first, last)


def _paginate(request, command, found):
    """``meta.paginate``: URLs of the pages before and after this one (reads by schedule id;
    the ``api_key`` is never in them)."""
    size = len(found["rows"]) or 1
    base = request.build_absolute_uri(request.path)
    links = {}

    def link(first):
        return f"{base}?" + urlencode({"schedule_id": schedule_id_of(command),
                                       "offset_start": first, "offset_end": first + size - 1})

    if found["next_offset"] is not None:
        links["next"] = link(found["next_offset"])
    if found["offset_start"] > 0:
        links["prev"] = link(max(0, found["offset_start"] - size))
    return links


def data_body(command, member, query, request):
    """``/query/data/json``'s reply: the status, the columns as ``meta.query.fields``, the
    result's totals, links to the pages around and the page's rows as lists."""
    found = page(command, query)
    body = status_body(command, member, found["rows"] if found else [])
    if found:
        body["meta"]["query"] = {"fields": [
            {"id": column["name"], "field_id": column["name"], "field_name": column["name"],
             "data_type": column.get("type", ""), "data_column": index, "visible": True}
            for index, column in enumerate(found["columns"])]}
        seconds = ((command.finished_at - command.started_at).total_seconds()
                   if command.finished_at and command.started_at else 0.0)
        body["meta"]["result"] = {"total_columns": len(found["columns"]),
                                  "total_rows": found["row_count"], "run_seconds": seconds,
                                  "data_sampled": False, "cache_used": False}
        links = _paginate(request, command, found)
        if links:
            body["meta"]["paginate"] = links
    return body


# -- errors ---------------------------------------------------------------------------------

_NOT_TITLE = re.compile(r"[^A-Za-z0-9\s]+")
_NOT_DETAIL = re.compile(r"[^A-Za-z0-9\s.,\-]+")


def _spelled(text, pattern, limit):
    """``text`` with what Supermetrics' pattern does not allow turned into spaces."""
    return re.sub(r"\s+", " ", pattern.sub(" ", str(text))).strip()[:limit].strip()


def _detail(body):
    errors = body.get("errors")
    if body["status"] == 400 and errors:
        names = ", ".join(name.replace("_", " ") for name in errors)
        first = next(iter(errors.values()))
        text = f"Invalid input in {names}. {first[0] if first else ''}"
    else:
        text = body.get("detail") or ""
    return _spelled(text, _NOT_DETAIL, 1000) or "Request failed"


def exception_handler(exc, context):
    """Supermetrics' errors: ``STATUS_NOT_FOUND``, else the portal's problem (its status and
    headers: WWW-Authenticate, Retry-After) in words the documented patterns allow; the
    field names stay in ``errors``."""
    if isinstance(exc, StatusNotFound):
        return Response({"error": "STATUS_NOT_FOUND"}, status=404)
    response = problems.exception_handler(exc, context)
    body = dict(response.data)
    request = context["request"]
    body["title"] = _spelled(HTTPStatus(body["status"]).phrase, _NOT_TITLE, 255) or "Error"
    body["detail"] = _detail(body)
    body["instance"] = request.build_absolute_uri(request.path)[:255]
    response.data = body
    return response


# -- views ----------------------------------------------------------------------------------


class SupermetricsView(http.CompatView):
    rate_ceiling = MAX_COUNT

    def token_from_fields(self, request):
        return token_from_fields(request)

    def get_exception_handler(self):
        return exception_handler


class QueryStatusView(SupermetricsView):
    """``GET /query/status``."""

    @extend_schema(operation_id="supermetrics_query_status", tags=["supermetrics"],
                   parameters=schema.STATUS_PARAMETERS, extensions=schema.STATUS_EXTENSIONS,
                   responses={200: schema.STATUS, 404: schema.NOT_FOUND})
    def get(self, request):
        """Status, progress, the account's queue and (on SUCCESS) a page of rows as objects
        of a query started through ``/query/data/json`` (or any SQL command, by its
        submission id). Offsets are inclusive; at most 10,000 rows a reply."""
        if "json" not in request.query_params:
            raise exceptions.ValidationError(
                {"json": ["Required: a JSON-encoded object with schedule_id."]})
        query = status_fields(query_object(request))
        member = membership_of(request)
        command = find(member, query["schedule_id"])
        found = page(command, query)
        rows = []
        if found:
            keys = results.unique_keys(results.column_names(command))
            rows = [dict(zip(keys, row, strict=False)) for row in found["rows"]]
        return Response(status_body(command, member, rows))


class QueryDataView(SupermetricsView):
    """``GET``/``POST /query/data/json``."""

    @extend_schema(operation_id="supermetrics_query_data", tags=["supermetrics"],
                   parameters=schema.DATA_PARAMETERS, extensions=schema.DATA_EXTENSIONS,
                   responses={200: schema.DATA, 404: schema.NOT_FOUND})
    def get(self, request):
        """Start a query (``ds_id``: a saved query; or ``query``: SQL on the data source
        ``ds_id`` names) and answer its data if it ends within ``sync_timeout`` seconds; with
        ``schedule_id`` alone, read that query (how the official client polls)."""
        return self.answer(request)

    @extend_schema(operation_id="supermetrics_query_data_post", tags=["supermetrics"],
                   parameters=schema.DATA_PARAMETERS, request=schema.DATA_REQUEST,
                   extensions=schema.DATA_EXTENSIONS,
                   responses={200: schema.DATA, 404: schema.NOT_FOUND})
    def post(self, request):
        """As ``GET``, with the query in a JSON or form body."""
        return self.answer(request)

    def answer(self, request):
        query = validated(DataQuery, query_object(request))
        member = membership_of(request)
        if query.get("ds_id") or query.get("query"):
            command = start(request, member, query)
        elif query.get("schedule_id"):
            command = find(member, query["schedule_id"])
        else:
            raise exceptions.ValidationError({"ds_id": [
                "Required: a saved query (qry_<id> or its name) or, with query, a data "
                "source; or schedule_id alone to read a query already started."]})
        command = http.sync_wait(command, query["sync_timeout"])
        return Response(data_body(command, member, query, request))
