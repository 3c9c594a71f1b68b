"""Portal REST API for commands: thin views over jobs.lifecycle and accounts.policy."""

from contextlib import contextmanager

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts import audit
from accounts.authentication import membership_of
from accounts.permissions import PolicyPermission
from jobportal.pagination import CursorPagination
from jobportal.problems import Conflict, public_url
from jobs import lifecycle, reads, results, submission
from jobs.api import results as api_results
from jobs.api.data_serializers import ResultPageSerializer
from jobs.api.events import EventStreamRenderer, event_stream
from jobs.api.filters import CommandFilter
from jobs.api.representation import command_data, command_detail
from jobs.api.serializers import (
    CommandDetailSerializer,
    CommandSerializer,
    LogPageSerializer,
    SubmitSerializer,
)
from jobs.logs import read_log, stream_size
from jobs.models import Command, CommandType, Source

MAX_LOG_PAGE = 1024 * 1024


class CommandPagination(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500



class CommandViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Submit commands and follow them: status, progress, logs, cancel, re-run."""

    permission_classes = [PolicyPermission]
    policy_resource = "commands"
    policy_actions = {"create": "submit", "cancel": "cancel", "rerun": "rerun"}
    serializer_class = CommandSerializer
    filterset_class = CommandFilter
    pagination_class = CommandPagination

    def get_queryset(self):
        return reads.listed(Command.objects.visible_to(membership_of(self.request)))

    def get_object(self):
        """One command by id in one query: no FilterSet, no policy queryset (see jobs.reads);
        with whether it notifies anyone (the detail's ``notify``)."""
        command = reads.visible_command_with(membership_of(self.request), self.kwargs["pk"],
                                             "notify")
        if command is None:
            raise exceptions.NotFound("No such command.")
        command.notifies = bool(command.extras[0])
        self.check_object_permissions(self.request, command)
        return command

    @extend_schema(responses=CommandSerializer(many=True))
    def list(self, request):
        """The account's commands the caller may see, newest first (cursor pages)."""
        member = membership_of(request)
        queryset = self.get_queryset()
        if not CommandFilter.base_filters.keys().isdisjoint(request.query_params):
            # Building a FilterSet costs more than the page query: only when one is asked for.
            queryset = self.filter_queryset(queryset)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response([command_data(c, member) for c in page])

    @extend_schema(responses=CommandDetailSerializer)
    def retrieve(self, request, pk=None):
        """One command: status, progress, worker, outcome; where a waiting one stands."""
        return Response(command_detail(self.get_object(), membership_of(request)))

    @extend_schema(request=SubmitSerializer, responses={201: CommandDetailSerializer,
                                                        200: CommandDetailSerializer})
    def create(self, request):
        """Submit a command. A repeated ``submission_id`` answers the existing command (200)
        when the definition is the same, 409 when it differs; it never runs twice."""
        return submit_request(request, request.data, "commands.submit")

    @extend_schema(request=None, responses=CommandDetailSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel: at once if waiting or queued; a running command is stopped by its worker."""
        command = self.get_object()
        member = membership_of(request)
        try:
            command = lifecycle.cancel(command)
        except lifecycle.IllegalTransition as exc:
            raise Conflict(str(exc)) from exc
        audit.record("commands.cancel", member=member, obj=command, request=request)
        return Response(command_detail(command, member))

    @extend_schema(request=None, responses={201: CommandDetailSerializer})
    @action(detail=True, methods=["post"])
    def rerun(self, request, pk=None):
        """Submit the same definition again as a new command (every right the original
        needed is checked again)."""
        member = membership_of(request)
        with submission_errors():
            command, _ = submission.rerun(member, self.get_object(), request=request)
        return Response(command_detail(command, member), status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter("offset", int, description="Byte offset to start at (default 0)."),
            OpenApiParameter("limit", int, description=f"Bytes at most (≤ {MAX_LOG_PAGE})."),
            OpenApiParameter("stream", str, enum=["all", "stdout", "stderr"]),
        ],
        responses=LogPageSerializer,
    )
    @action(detail=True, methods=["get"])
    def logs(self, request, pk=None):
        """Read the log by byte offset; ``more`` is true while more may come."""
        command = self.get_object()
        offset, limit = _log_window(request)
        stream = request.query_params.get("stream", "all")
        if stream not in ("all", "stdout", "stderr"):
            raise exceptions.ValidationError({"stream": "One of all, stdout, stderr."})
        page = read_log(command.pk, offset, limit, None if stream == "all" else stream)
        # The size of what was asked for: the whole log, or that one stream.
        size = command.log_size if stream == "all" else stream_size(command.pk, stream)
        more = not command.is_terminal or page.next_offset < size
        return Response({
            "offset": page.offset, "next_offset": page.next_offset,
            "data": page.data.decode("utf-8", errors="replace"), "more": more,
            "size": size, "stream": stream,
        })

    @extend_schema(responses={(200, "text/event-stream"): str})
    @action(detail=True, methods=["get"], renderer_classes=[EventStreamRenderer])
    def events(self, request, pk=None):
        """Server-sent events: ``status`` and ``log`` events until the command ends.
        Reconnect with ``Last-Event-ID`` (a log offset) to resume. 429 past the account's
        open streams (``JOBPORTAL_MAX_STREAMS_PER_ACCOUNT`` per web process)."""
        command = self.get_object()
        start = request.headers.get("Last-Event-ID") or request.query_params.get("offset") or 0
        try:
            start = max(0, int(start))
        except ValueError as exc:
            raise exceptions.ValidationError({"offset": "A whole number."}) from exc
        return event_stream(membership_of(request).account_id, command.pk, start)

    @extend_schema(
        parameters=[
            OpenApiParameter("offset_start", int, description="SQL: first row, zero-based."),
            OpenApiParameter("offset_end", int, description=(
                "SQL: last row, INCLUSIVE (default offset_start + "
                f"{results.DEFAULT_PAGE_ROWS - 1}; "
                f"at most {results.MAX_PAGE_ROWS} rows).")),
            OpenApiParameter("cursor", str, description="SQL: next_cursor of the last page."),
            OpenApiParameter("page_size", int, description="SQL: rows per cursor page."),
            OpenApiParameter("offset", int, description="Shell: byte offset in stdout."),
            OpenApiParameter("limit", int, description=f"Shell: bytes (≤ {MAX_LOG_PAGE})."),
        ],
        responses=ResultPageSerializer,
    )
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        """A page of the result of a finished command (409 until it is done): rows by range
        (``offset_start``..``offset_end``, end inclusive) or cursor for SQL; stdout for shell."""
        command = self.get_object()
        api_results.require_done(command)
        if command.command_type == CommandType.SHELL:
            offset, limit = _log_window(request)
            return Response(results.shell_page(command, offset, limit))
        first, last = api_results.requested_range(request.query_params)
        return Response(api_results.sql_page(command, first, last, public_url(request)))

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["csv", "json", "ndjson"],
                                     description="SQL: default csv (or from Accept). A shell "
                                     "command's result is its stdout as text/plain.")],
        responses={(200, "text/csv"): OpenApiTypes.STR,
                   (200, "application/json"): OpenApiTypes.OBJECT,
                   (200, "application/x-ndjson"): OpenApiTypes.STR,
                   (200, "text/plain"): OpenApiTypes.STR},
    )
    @action(detail=True, methods=["get"], url_path="results/download",
            renderer_classes=api_results.DOWNLOAD_RENDERERS)
    def download(self, request, pk=None):
        """The whole result, streamed: CSV, JSON or NDJSON (a shell command's stdout as text).
        409 until the command is done."""
        command = self.get_object()
        api_results.require_done(command)
        return api_results.download_response(command, request.accepted_renderer.format)


def submit_request(request, payload, audit_action, **audit_detail):
    """Validate ``payload`` and submit it as the caller: the one submit path of the API
    (``POST /commands/`` and ``POST /saved-queries/{id}/run/``)."""
    member = membership_of(request)
    serializer = SubmitSerializer(data=payload, context={"request": request})
    serializer.is_valid(raise_exception=True)
    with submission_errors():
        command, created = submission.submit(
            member, serializer.validated_data, source=Source.API, request=request,
            audit_action=audit_action, **audit_detail)
    return Response(command_detail(command, member),
                    status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@contextmanager
def submission_errors():
    """The portal API's answer to a refused submission: 400 naming the field, 403, 409."""
    try:
        yield
    except submission.InvalidDefinition as exc:
        detail = ({name: [message] for name, message in exc.errors.items()}
                  if exc.errors else [exc.message])
        raise exceptions.ValidationError({exc.field: detail}) from exc
    except submission.NotAllowed as exc:
        raise exceptions.PermissionDenied(exc.message) from exc
    except submission.DuplicateSubmission as exc:
        raise Conflict(exc.message) from exc


def _log_window(request):
    """``(offset, limit)`` of a log read from the query string."""
    offset = api_results.whole_param(request.query_params, "offset", 0)
    limit = api_results.whole_param(request.query_params, "limit", 65536, minimum=1)
    return offset, min(limit, MAX_LOG_PAGE)
