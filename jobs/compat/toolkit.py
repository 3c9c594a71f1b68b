"""The analytics toolkit's query API over saved queries, datasets and SQL commands
(docs/compat/toolkit.md).

- ``POST /v1/save`` saves ``query`` (SQL over the account's datasets, by name) as a saved query
  for ``dataset_id``: ``qry_<id>``.
- ``POST /v1/query/{query_id}`` runs it with ``parameters``: ``execution_mode: "async"``
  answers ``202`` with its ``job_<id>``; ``"sync"`` (the default) waits up to ``wait_seconds``
  (30; at most ``JOBPORTAL_MAX_SYNC_WAIT_SECONDS``) and answers the job with its results, or
  ``202`` with the job and where to poll it when it has not ended by then.
- ``GET /v1/jobs/{job_id}``: status (``queued|running|succeeded|failed``), progress 0-100,
  results on success, a readable error on failure, ISO-8601 UTC times.

The prefixed ids are the portal's own primary keys (``job_12`` is command 12, ``qry_3`` saved
query 3, ``dset_5`` dataset 5). Auth: ``X-API-Key`` (or any token style of the portal); errors
are the portal's RFC 9457 problems; rights, parameters, idempotency (``Idempotency-Key``) and
audit are those of :mod:`jobs.submission` and the saved-query serializer.
"""

import re
from datetime import UTC

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from accounts import audit, policy
from accounts.authentication import membership_of
from jobportal.fields import JSONField, StrictCharField
from jobs import reads, results, statuses
from jobs.api import results as api_results
from jobs.api.data_serializers import SavedQuerySerializer
from jobs.api.serializers import SubmitSerializer
from jobs.api.views import submission_errors
from jobs.compat import http
from jobs.models import CommandType, Dataset, Source, Status
from jobs.submission import submit

JOB_RE = re.compile(r"^job_(\d{1,18})$")
QUERY_RE = re.compile(r"^qry_(\d{1,18})$")
DATASET_RE = re.compile(r"^dset_(\d{1,18})$")
DEFAULT_WAIT_SECONDS = 30
MAX_ROWS = results.MAX_PAGE_ROWS


def _prefixed(prefix, pk):
    return f"{prefix}_{pk}" if pk is not None else None


def _pk(pattern, value):
    match = pattern.match(value or "")
    return int(match[1]) if match else None


def _utc(value):
    """``2024-06-01T14:22:10Z``, or None."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def readable_error(command):
    """Why the job failed, in words (the executor's message names the SQL problem), or None."""
    if command.status == Status.ERROR:
        message = command.error_message or "The query failed."
        return f"{command.error_type}: {message}" if command.error_type else message
    if command.status == Status.CANCELLED:
        return "Cancelled before it finished."
    return None


def job_body(command, dataset_pk, offset=0, limit=MAX_ROWS):
    """The toolkit's job: ``results`` only on success (rows ``offset`` .. ``offset + limit -
    1``, as JSON values of their SQL types; ``row_count`` counts the whole result)."""
    found = None
    if command.status == Status.DONE:
        page = results.sql_page(command, offset, offset + limit - 1)
        found = {"columns": results.column_names(command), "rows": page["rows"],
                 "row_count": page["row_count"]}
    return {
        "job_id": _prefixed("job", command.pk),
        "query_id": _prefixed("qry", command.saved_query_id),
        "dataset_id": _prefixed("dset", dataset_pk),
        "status": statuses.word(statuses.Shape.TOOLKIT, command.status, command.throttled),
        "progress": command.progress,
        "results": found,
        "error": readable_error(command),
        "created_at": _utc(command.created_at),
        "completed_at": _utc(command.finished_at),
    }


# -- requests -------------------------------------------------------------------------------


class SaveRequest(serializers.Serializer):
    name = StrictCharField(max_length=200)
    query = StrictCharField(max_length=1_000_000, trim_whitespace=False)
    dataset_id = serializers.RegexField(DATASET_RE.pattern, required=False, allow_null=True)
    description = StrictCharField(required=False, allow_blank=True, max_length=10_000)
    parameters = JSONField(required=False, help_text=(
        'Declared parameters: [{"name": "region", "type": "string|integer|number|boolean|'
        'date", "default": ..., "required": true}], used in the SQL as :region.'))


class RunRequest(serializers.Serializer):
    execution_mode = serializers.ChoiceField(choices=["sync", "async"], default="sync")
    parameters = JSONField(required=False, help_text="Values of the query's parameters.")
    wait_seconds = serializers.IntegerField(
        min_value=0, max_value=86_400, default=DEFAULT_WAIT_SECONDS,
        help_text="sync: how long to wait before answering 202 (at most "
                  "JOBPORTAL_MAX_SYNC_WAIT_SECONDS).")


def _body(request, serializer_class):
    if not isinstance(request.data, dict):
        raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _dataset(member, ref):
    pk = _pk(DATASET_RE, ref)
    found = policy.restrict(Dataset.objects.all(), member, "read", "datasets").filter(pk=pk)
    dataset = found.first()
    if dataset is None:
        raise exceptions.ValidationError({"dataset_id": [f"No dataset {ref} in your account."]})
    return dataset


# -- schema pieces --------------------------------------------------------------------------

_ID = {"type": "string", "nullable": True}
JOB = {
    "type": "object",
    "required": ["job_id", "query_id", "dataset_id", "status", "progress", "results", "error",
                 "created_at", "completed_at"],
    "properties": {
        "job_id": {"type": "string", "pattern": "^job_[0-9]+$"},
        "query_id": _ID, "dataset_id": _ID,
        "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed"]},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "results": {"type": "object", "nullable": True, "properties": {
            "columns": {"type": "array", "items": {"type": "string"}},
            "rows": {"type": "array", "items": {"type": "array", "items": {}}},
            "row_count": {"type": "integer"}}},
        "error": {"type": "string", "nullable": True},
        "created_at": {"type": "string", "format": "date-time"},
        "completed_at": {"type": "string", "format": "date-time", "nullable": True},
        "message": {"type": "string", "description": "sync, still running: where to poll."},
    },
}
EXTENSIONS = {"x-response-headers": http.response_headers()}
SAVED = {"type": "object", "required": ["query_id", "name", "dataset_id"], "properties": {
    "query_id": {"type": "string"}, "name": {"type": "string"}, "dataset_id": _ID,
    "parameters": {"type": "array", "items": {"type": "object"}},
    "created_at": {"type": "string", "format": "date-time"}}}


# -- views ----------------------------------------------------------------------------------


class SaveView(http.CompatView):
    """``POST /v1/save``."""

    @extend_schema(operation_id="toolkit_save", tags=["toolkit"], request=SaveRequest,
                   extensions=EXTENSIONS,
                   responses={201: SAVED})
    def post(self, request):
        """Save SQL over the account's datasets (by name) as a query: ``qry_<id>``."""
        member = membership_of(request)
        data = _body(request, SaveRequest)
        if not policy.can(member, "create", "saved_queries"):
            raise exceptions.PermissionDenied("Your role may not save queries.")
        dataset = _dataset(member, data["dataset_id"]) if data.get("dataset_id") else None
        serializer = SavedQuerySerializer(data={
            "name": data["name"], "sql": data["query"], "description": data.get("description", ""),
            "parameters": data.get("parameters", [])}, context={"request": request})
        if not serializer.is_valid():
            errors = dict(serializer.errors)
            if "sql" in errors:
                errors["query"] = errors.pop("sql")
            raise exceptions.ValidationError(errors)
        saved = serializer.save(account=member.account, created_by=member.user, dataset=dataset)
        audit.record("saved_queries.create", member=member, obj=saved, request=request,
                     shape="toolkit")
        return Response({"query_id": _prefixed("qry", saved.pk), "name": saved.name,
                         "dataset_id": _prefixed("dset", saved.dataset_id),
                         "parameters": saved.parameters, "created_at": _utc(saved.created_at)},
                        status=status.HTTP_201_CREATED)


class RunView(http.CompatView):
    """``POST /v1/query/{query_id}``."""

    @extend_schema(operation_id="toolkit_run", tags=["toolkit"], request=RunRequest,
                   extensions=EXTENSIONS,
                   parameters=[OpenApiParameter("Idempotency-Key", str, "header", description=(
                       "Your id for this run: a repeat answers the same job."))],
                   responses={200: JOB, 202: JOB})
    def post(self, request, query_id):
        """Run a saved query: ``async`` answers 202 with the job; ``sync`` waits and answers
        the job with its results (202 and where to poll, if it has not ended in time)."""
        member = membership_of(request)
        saved = reads.saved_query(member, pk=_pk(QUERY_RE, query_id))
        if saved is None:
            raise exceptions.NotFound("No such query.")
        data = _body(request, RunRequest)
        payload = {"command_type": CommandType.SQL, "saved_query": saved.pk,
                   "parameters": data.get("parameters") or {}}
        if request.headers.get("Idempotency-Key"):
            payload["submission_id"] = request.headers["Idempotency-Key"]
        serializer = SubmitSerializer(data=payload, context={"request": request})
        if not serializer.is_valid():
            errors = dict(serializer.errors)
            if "submission_id" in errors:
                errors["Idempotency-Key"] = errors.pop("submission_id")
            raise exceptions.ValidationError(errors)
        with submission_errors():
            command, _ = submit(member, serializer.validated_data, source=Source.API,
                                request=request, audit_action="saved_queries.run",
                                saved_query=saved.pk, version=saved.version, shape="toolkit")
        if data["execution_mode"] == "sync":
            command = http.sync_wait(command, data["wait_seconds"])
        body = job_body(command, saved.dataset_id)
        if command.is_terminal:
            return Response(body)
        where = f"/v1/jobs/{body['job_id']}"
        if data["execution_mode"] == "sync":
            body["message"] = f"Still {body['status']}: poll GET {where}."
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": where})


class JobView(http.CompatView):
    """``GET /v1/jobs/{job_id}``."""

    @extend_schema(operation_id="toolkit_job", tags=["toolkit"], extensions=EXTENSIONS, parameters=[
        OpenApiParameter("offset", int, description="First result row (default 0)."),
        OpenApiParameter("limit", int, description=f"Result rows at most (≤ {MAX_ROWS}).")],
        responses={200: JOB})
    def get(self, request, job_id):
        """A job's status, progress, and its results once it succeeded (or why it failed)."""
        command = reads.visible_command_with(membership_of(request), _pk(JOB_RE, job_id),
                                             "dataset", only=reads.STATUS_FIELDS)
        if command is None or command.command_type != CommandType.SQL:
            raise exceptions.NotFound("No such job.")
        offset = api_results.whole_param(request.query_params, "offset", 0)
        limit = min(api_results.whole_param(request.query_params, "limit", MAX_ROWS, 1),
                    MAX_ROWS)
        return Response(job_body(command, command.extras[0], offset, limit))


urlpatterns = [
    path("v1/save", SaveView.as_view(), name="toolkit-save"),
    path("v1/query/<str:query_id>", RunView.as_view(), name="toolkit-run"),
    path("v1/jobs/<str:job_id>", JobView.as_view(), name="toolkit-job"),
]
