"""The Ray job API's endpoints: thin views over jobs.submission, jobs.reads, jobs.lifecycle,
jobs.logs and jobs.packages.

Errors answer as Ray's dashboard does, in plain text (the client prints the body after the
status code). Whatever the caller may not do to a job it can see (stop, delete) answers 404
like a job that does not exist: Ray's client takes 401 and 403 for a bad token. Only shell
commands are jobs here; the portal's SQL commands are not listed and answer 404.
"""

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import audit, policy
from accounts.authentication import membership_of
from jobportal import problems
from jobs import lifecycle, packages, reads, statuses, submission
from jobs.compat.ray import representation
from jobs.compat.ray import serializers as ray_serializers
from jobs.logs import read_log
from jobs.models import Command, CommandType, Source
from jobs.statuses import Shape

LIST_LIMIT = 1000  # newest jobs first; Ray lists every job it ever ran
TEXT = "text/plain; charset=utf-8"


class RayError(exceptions.APIException):
    """An error with Ray's own wording and status (400 unless said otherwise)."""

    status_code = 400

    def __init__(self, detail, status_code=400):
        super().__init__(detail)
        self.status_code = status_code


def not_found(ref):
    return RayError(f"Job {ref} does not exist", 404)


def ray_exception_handler(exc, context):
    """The portal's answer to ``exc`` (status, headers, logging), its text as the body."""
    response = problems.exception_handler(exc, context)
    body = response.data
    text = body["detail"]
    if body.get("errors"):
        text = "; ".join(f"{field}: {' '.join(messages)}"
                         for field, messages in body["errors"].items())
    answer = HttpResponse(text, status=response.status_code, content_type=TEXT)
    for name, value in response.headers.items():
        if name.lower() in ("www-authenticate", "retry-after"):
            answer[name] = value
    return answer


class RayView(APIView):
    """Authenticated like every API view; errors in Ray's plain text."""

    def get_exception_handler(self):
        return ray_exception_handler

    @property
    def member(self):
        return membership_of(self.request)

    def job(self, ref, action="read"):
        """The shell command ``ref`` (submission id or id) the member may ``action``, or 404."""
        command = reads.visible_command_by_ref(self.member, ref, action)
        if command is None or command.command_type != CommandType.SHELL:
            raise not_found(ref)
        return command


class VersionView(RayView):
    @extend_schema(responses=ray_serializers.VersionSerializer, tags=["ray"])
    def get(self, request):
        """The job API version (the Ray client checks ``ray_version`` on connect)."""
        return Response(representation.version())


class JobsView(RayView):
    @extend_schema(responses=ray_serializers.JobDetailsSerializer(many=True), tags=["ray"])
    def get(self, request):
        """The account's jobs the caller may see, newest first (at most 1000)."""
        member = self.member
        commands = representation.listed(Command.objects.visible_to(member).filter(
            command_type=CommandType.SHELL)[:LIST_LIMIT])
        return Response([representation.job_details(c, member) for c in commands])

    @extend_schema(request=ray_serializers.RaySubmitSerializer,
                   responses={200: ray_serializers.SubmitResponseSerializer},
                   tags=["ray"])
    def post(self, request):
        """Submit a job. A submission id that is taken answers 400, as Ray does."""
        request_serializer = ray_serializers.RaySubmitSerializer(data=request.data)
        request_serializer.is_valid(raise_exception=True)
        command = self.submit(*request_serializer.portal_submission())
        return Response({"job_id": command.submission_id,
                         "submission_id": command.submission_id})

    def submit(self, fields, uri):
        member = self.member
        taken = RayError(f"Job with submission_id {fields.get('submission_id')} already "
                         "exists. Please use a different submission_id.")
        try:
            with transaction.atomic():
                if uri is not None and not packages.touch(member.account_id, uri):
                    raise RayError(f"runtime_env.working_dir: package {uri} was not uploaded "
                                   "to this account.")
                command, created = submission.submit(member, fields, source=Source.API,
                                                     request=self.request)
        except submission.DuplicateSubmission as exc:
            raise taken from exc
        except submission.SubmissionError as exc:
            # A refusal by the role too: Ray's client reads a 403 as a bad token.
            raise RayError(exc.message) from exc
        if not created:
            raise taken
        return command


class JobView(RayView):
    @extend_schema(responses={200: ray_serializers.JobDetailsSerializer},
                   tags=["ray"])
    def get(self, request, ref):
        """One job by submission id or job id."""
        return Response(representation.job_details(self.job(ref), self.member))

    @extend_schema(responses={200: ray_serializers.DeleteResponseSerializer},
                   tags=["ray"])
    def delete(self, request, ref):
        """Delete a job that has ended, with its logs (400 while it is active)."""
        command = self.job(ref, "delete")
        word = statuses.word(Shape.RAY, command.status, command.throttled)
        try:
            deleted = lifecycle.delete(command)
        except lifecycle.IllegalTransition as exc:
            raise RayError(f"Attempted to delete job '{ref}', but it is in a non-terminal "
                           f"state {word}. Stop it first.") from exc
        if deleted:
            audit.record("commands.delete", member=self.member, obj=command, request=request,
                         submission_id=command.submission_id)
        return Response({"deleted": deleted})


class StopView(RayView):
    @extend_schema(request=None, responses={200: ray_serializers.StopResponseSerializer},
                   tags=["ray"])
    def post(self, request, ref):
        """Stop a job: at once if it has not started, else its worker ends its processes;
        ``stopped`` is false for a job that had already ended."""
        command = self.job(ref, "cancel")
        if command.is_terminal:
            return Response({"stopped": False})
        try:
            command = lifecycle.cancel(command)
        except lifecycle.IllegalTransition:  # it ended meanwhile
            return Response({"stopped": False})
        audit.record("commands.cancel", member=self.member, obj=command, request=request)
        return Response({"stopped": True})


class LogsView(RayView):
    @extend_schema(responses={200: ray_serializers.LogsResponseSerializer},
                   tags=["ray"])
    def get(self, request, ref):
        """The job's output, stdout and stderr interleaved as written; at most
        ``JOBPORTAL_RAY_LOG_BYTES`` (1 MiB): the end of a longer log, from a line start."""
        command = self.job(ref)
        return Response({"logs": log_tail(command, settings.JOBPORTAL["RAY_LOG_BYTES"])})


def log_tail(command, limit):
    """The last ``limit`` bytes of the log, cut at a line start, with a first line that says
    what was left out and where the whole log is."""
    start = max(0, command.log_size - limit)
    data = read_log(command.pk, start, limit).data
    if start == 0:
        return data.decode("utf-8", errors="replace")
    newline = data.find(b"\n")
    if 0 <= newline < len(data) - 1:
        start, data = start + newline + 1, data[newline + 1:]
    return (f"[jobportal: the first {start} bytes of this log are left out; the whole log is "
            f"at /api/v1/commands/{command.pk}/logs/?offset=0]\n"
            + data.decode("utf-8", errors="replace"))


PACKAGE_PARAMETERS = [
    OpenApiParameter("protocol", str, OpenApiParameter.PATH, enum=["gcs"]),
    OpenApiParameter("name", str, OpenApiParameter.PATH, pattern=(
        ray_serializers.PACKAGE_NAME_RE.pattern), description="_ray_pkg_<hash>.zip"),
]


class PackageView(RayView):
    """``/api/packages/{protocol}/{name}``: the client asks whether its working directory is
    stored (GET) and uploads it when not (PUT, the zip as the body)."""

    parser_classes = []  # the body is the archive, read by the view as a stream

    def package_uri(self, protocol, name):
        uri = ray_serializers.package_uri(protocol, name)
        if uri is None:
            raise RayError(f"Package {protocol}://{name}: packages are named "
                           "gcs://_ray_pkg_<hash>.zip, as the Ray client names them.")
        return uri

    def body_limit(self):
        return settings.JOBPORTAL["MAX_PACKAGE_BYTES"], "JOBPORTAL_MAX_PACKAGE_BYTES"

    @extend_schema(responses={200: OpenApiResponse(description="Stored.")},
                   parameters=PACKAGE_PARAMETERS, tags=["ray"])
    def get(self, request, protocol, name):
        """200 when the account has this package (and the caller may submit), else 404."""
        uri = self.package_uri(protocol, name)
        member = self.member
        if not policy.can(member, "submit", "commands", command_type=CommandType.SHELL) or (
                not packages.exists(member.account_id, uri)):
            raise RayError(f"Package {uri} does not exist", 404)
        return HttpResponse(status=200, content_type=TEXT)

    @extend_schema(request={"application/octet-stream": OpenApiTypes.BINARY},
                   responses={200: OpenApiResponse(description="Stored.")},
                   parameters=PACKAGE_PARAMETERS, tags=["ray"])
    def put(self, request, protocol, name):
        """Store a zipped working directory (checked whole first; an unsafe one is 400)."""
        uri = self.package_uri(protocol, name)
        member = self.member
        if not policy.can(member, "submit", "commands", command_type=CommandType.SHELL):
            raise RayError("Your role may not submit shell commands, so it may not upload "
                           "packages.")
        limit, setting = self.body_limit()
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > limit:
            raise problems.PayloadTooLarge(limit, setting)
        try:
            _, created = packages.store(member, uri, request._request)
        except packages.PackageTooLarge as exc:
            raise problems.PayloadTooLarge(limit, setting) from exc
        except packages.PackageError as exc:
            raise RayError(f"Package {uri}: {exc.message}") from exc
        if created:
            audit.record("packages.upload", member=member, request=request, uri=uri)
        return HttpResponse(status=200, content_type=TEXT)

