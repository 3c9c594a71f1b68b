"""Qubole's command endpoints: submit, list, status, kill, logs, inline results."""

import json
from datetime import UTC

from django.db.models import Q
from django.http import HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from accounts import audit
from jobportal.limits import MAX_BIGINT
from jobs import lifecycle, reads, results
from jobs.compat.qubole import docs
from jobs.compat.qubole.base import Invalid, QuboleView, flag, not_found, whole
from jobs.compat.qubole.representation import (
    DEFAULT_TYPE,
    META_PREFIX,
    command_json,
    commands_json,
    qubole_type,
)
from jobs.compat.qubole.submit import SHELL, SUPPORTED, submit
from jobs.logs import read_log
from jobs.models import Command, CommandType
from jobs.statuses import Shape, statuses, word

MAX_PER_PAGE = 100
MAX_PAGE = 10**12
# Qubole inlines results up to 20 MB and hands larger ones to object storage, which the
# portal does not have: larger results are read through the portal's paged results.
INLINE_MAX_BYTES = 20 * 1024**2
LOG_MAX_BYTES = 16 * 1024**2


def visible(member, pk, noun="command"):
    """The command ``pk`` if the member may read it (one query), else 404."""
    command = reads.visible_command(member, pk)
    if command is None:
        raise not_found(noun, pk)
    return command


class CommandsView(QuboleView):
    """``/api/v1.2/commands``: submit a command, or the command history."""

    @extend_schema(request=docs.QuboleSubmitSerializer,
                   responses={200: docs.QuboleCommandSerializer},
                   operation_id="qubole_commands_create", tags=["qubole"])
    def post(self, request):
        """Submit a ShellCommand or a SQL command (Presto, Hive, Spark SQL, Sql, DbTapQuery).
        Past the account's concurrency limit it is accepted, waiting, ``throttled: true``."""
        command, _ = submit(request)
        return Response(command_json(command, self.member))

    @extend_schema(parameters=docs.LIST_PARAMETERS,
                   responses={200: docs.QuboleCommandListSerializer},
                   operation_id="qubole_commands_list", tags=["qubole"])
    def get(self, request):
        """The caller's commands, newest first (the account's with ``all_users=1`` where the
        role allows reading them), ``per_page`` at most 100."""
        params = request.query_params
        page = whole(params, "page", 1, 1, MAX_PAGE)
        per_page = whole(params, "per_page", 10, 1, MAX_PER_PAGE)
        queryset = _filtered(Command.objects.visible_to(self.member), self.member, params)
        start = (page - 1) * per_page
        if start > MAX_BIGINT:
            raise Invalid("page is beyond any history.", field="page")
        rows = list(reads.listed(queryset)[start:start + per_page + 1])
        paging = {"previous_page": page - 1 if page > 1 else None,
                  "next_page": page + 1 if len(rows) > per_page else None,
                  "per_page": per_page}
        return Response({"paging_info": paging,
                         "commands": commands_json(rows[:per_page], self.member)})


def _moment(params, name, end=False):
    """``(lookup, value)`` of a start_date/end_date: a day, or a time (UTC unless it says)."""
    raw = params.get(name)
    if raw in (None, ""):
        return None
    text = str(raw)
    try:
        value = parse_datetime(text) if "T" in text or " " in text else None
        day = parse_date(text) if value is None else None
    except ValueError:  # well formed, but no such day or time
        value = day = None
    if value is not None:
        if timezone.is_naive(value):
            value = timezone.make_aware(value, UTC)
        return ("created_at__lte" if end else "created_at__gte"), value
    if day is None:
        raise Invalid(f"{name} must be a date (YYYY-MM-DD) or a UTC time "
                      "(YYYY-MM-DDTHH:MM:SSZ).", field=name)
    return ("created_at__date__lte" if end else "created_at__date__gte"), day


def _filtered(queryset, member, params):
    """The history filters: all_users, command_type, status, name, start_date, end_date."""
    if not flag(params, "all_users"):
        queryset = queryset.filter(user_id=member.user_id)
    kind = params.get("command_type")
    if kind:
        if kind not in SUPPORTED:
            raise Invalid(f"command_type must be one of: {', '.join(SUPPORTED)}.",
                          field="command_type")
        if kind == SHELL:
            queryset = queryset.filter(command_type=CommandType.SHELL)
        else:
            # A SQL command not submitted through this shape shows as SqlCommand
            # (representation.qubole_type), so that type also finds it.
            key = f"{META_PREFIX}command_type"
            named = Q(**{f"metadata__{key}": kind})
            if kind == DEFAULT_TYPE[CommandType.SQL]:
                named |= ~Q(metadata__has_key=key)
            queryset = queryset.filter(named, command_type=CommandType.SQL)
    if params.get("status"):
        found = statuses(Shape.QUBOLE, params["status"])
        if not found:
            raise Invalid("status must be one of: waiting, running, done, error, cancelled.",
                          field="status")
        queryset = queryset.filter(status__in=found)
    if params.get("name"):
        if "\x00" in params["name"]:
            raise Invalid("name must not hold NUL characters.", field="name")
        queryset = queryset.filter(name=params["name"][:200])
    for name, end in (("start_date", False), ("end_date", True)):
        moment = _moment(params, name, end)
        if moment is not None:
            queryset = queryset.filter(**{moment[0]: moment[1]})
    return queryset


class CommandView(QuboleView):
    """``/api/v1.2/commands/{id}``: status, and kill."""

    @extend_schema(responses={200: docs.QuboleCommandSerializer}, operation_id="qubole_command",
                   parameters=[docs.ID, docs.INCLUDE_QUERY_PROPERTIES], tags=["qubole"])
    def get(self, request, pk):
        """View Command Status: every field of Qubole's response, Qubole's status words."""
        flag(request.query_params, "include_query_properties")  # accepted; nothing to add
        return Response(command_json(visible(self.member, pk), self.member))

    @extend_schema(request=docs.QuboleKillSerializer,
                   responses={200: docs.QuboleKillResultSerializer},
                   operation_id="qubole_command_kill", parameters=[docs.ID], tags=["qubole"])
    def put(self, request, pk):
        """``{"status": "kill"}`` cancels the command (a running one is stopped by its
        worker); ``kill_succeeded`` is false for a command that has already ended."""
        body = request.data
        if not isinstance(body, dict) or str(body.get("status", "")).lower() != "kill":
            raise Invalid('Only {"status": "kill"} is supported.', field="status")
        command = visible(self.member, pk)
        self.require("cancel", "commands", obj=command)
        try:
            command = lifecycle.cancel(command)
        except lifecycle.IllegalTransition as exc:
            return Response({"kill_succeeded": False, "result": str(exc),
                             "status": word(Shape.QUBOLE, command.status)})
        audit.record("commands.cancel", member=self.member, obj=command, request=request,
                     shape="qubole")
        return Response({"kill_succeeded": True, "result": "Kill requested.",
                         "status": word(Shape.QUBOLE, command.status, command.throttled)})


class LogsView(QuboleView):
    """``/api/v1.2/commands/{id}/logs``."""

    @extend_schema(parameters=[docs.ID, *docs.LOG_PARAMETERS], operation_id="qubole_logs",
                   responses={(200, "text/plain"): OpenApiResponse(
                       str, description="The log; headers err_length and tmp_length.")},
                   tags=["qubole"])
    def get(self, request, pk):
        """The log as text: stderr for shell commands (stdout is the result), the whole log
        for SQL. ``err_file_processed`` skips what was read; ``err_length`` says how many
        bytes came (``tmp_length`` is always 0), as the SDK's live log printing reads."""
        command = visible(self.member, pk)
        offset = whole(request.query_params, "err_file_processed", 0, 0, MAX_BIGINT)
        whole(request.query_params, "tmp_file_processed", 0, 0, MAX_BIGINT)
        stream = "stderr" if command.command_type == CommandType.SHELL else None
        page = read_log(command.pk, offset, LOG_MAX_BYTES, stream=stream)
        response = HttpResponse(page.data, content_type="text/plain; charset=utf-8")
        response["err_length"] = str(len(page.data))
        response["tmp_length"] = "0"
        return response


class ResultsView(QuboleView):
    """``/api/v1.2/commands/{id}/results``."""

    @extend_schema(parameters=[docs.ID, *docs.RESULT_PARAMETERS], operation_id="qubole_results",
                   responses={200: docs.QuboleResultsSerializer}, tags=["qubole"])
    def get(self, request, pk):
        """The result inline: rows as tab-separated lines (a header line first with
        ``include_headers=true``), a shell command's stdout. 422 until the command is done,
        and for results over 20 MB (read them from the portal's paged results)."""
        command = visible(self.member, pk)
        flag(request.query_params, "inline")
        headers = flag(request.query_params, "include_headers")
        try:
            results.require_done(command)
        except results.NoResult as exc:
            raise Invalid(str(exc), field="status") from exc
        text = _inline(command, headers)
        if text is None:
            raise Invalid(
                f"The result of command {command.pk} is larger than {INLINE_MAX_BYTES} bytes, "
                "too large to answer inline (Qubole would point to object storage, which "
                "this portal does not have). Read it in pages from the portal's API.",
                portal_results=f"/api/v1/commands/{command.pk}/results/",
                portal_download=f"/api/v1/commands/{command.pk}/results/download/")
        return Response({"inline": True, "results": text, "command_type": qubole_type(command),
                         "truncated": command.result_truncated or command.log_truncated},
                        status=status.HTTP_200_OK)


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    # A tab or newline inside a value would break the row: written as \t and \n.
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _inline(command, headers):
    """The result as text, or None when it is over INLINE_MAX_BYTES."""
    if command.command_type == CommandType.SHELL:
        page = read_log(command.pk, 0, INLINE_MAX_BYTES + 1, stream="stdout")
        if len(page.data) > INLINE_MAX_BYTES:
            return None
        return page.data.decode("utf-8", errors="replace")
    lines, size = [], 0
    if headers:
        lines.append("\t".join(_cell(c.get("name")) for c in command.result_columns or []))
    for row in results.iter_rows(command.pk):
        line = "\t".join(_cell(value) for value in row)
        size += len(line.encode()) + 1
        if size > INLINE_MAX_BYTES:
            return None
        lines.append(line)
    return "".join(f"{line}\n" for line in lines)
