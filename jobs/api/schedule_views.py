"""Portal REST API for schedules: thin views over :mod:`jobs.schedules.service` and
:mod:`accounts.policy` (other accounts' schedules answer 404). A schedule's runs are
commands: ``GET /api/v1/commands/?schedule=<id>``."""

from contextlib import contextmanager

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api.views import AccountScopedViewSet
from jobs import submission
from jobs.api.data_views import ByNamePagination
from jobs.api.schedule_serializers import (
    NextRunsSerializer,
    ScheduleDetailSerializer,
    ScheduleSerializer,
    ScheduleWriteSerializer,
)
from jobs.schedules import service
from jobs.schedules.model import Schedule

MAX_NEXT_RUNS = 100


@contextmanager
def schedule_errors():
    """The API's answer to a refused change: 400 naming the field, 403 for a role."""
    try:
        yield
    except service.ScheduleError as exc:
        raise exceptions.ValidationError(exc.errors) from exc
    except submission.NotAllowed as exc:
        raise exceptions.PermissionDenied(exc.message) from exc


class ScheduleViewSet(AccountScopedViewSet):
    """Commands on a calendar: a cron expression in a time zone over a command template or a
    saved query. Each run is an ordinary command submitted as the schedule's owner."""

    model = Schedule
    policy_resource = "schedules"
    policy_actions = {"pause": "update", "resume": "update", "next_runs": "read"}
    serializer_class = ScheduleSerializer
    pagination_class = ByNamePagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return super().get_queryset().select_related("created_by", "last_run")

    def get_serializer_class(self):
        return ScheduleSerializer if self.action == "list" else ScheduleDetailSerializer

    def _written(self, partial):
        serializer = ScheduleWriteSerializer(data=self.request.data, partial=partial,
                                             context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _answer(self, schedule, code=status.HTTP_200_OK):
        schedule = self.get_queryset().get(pk=schedule.pk)
        return Response(ScheduleDetailSerializer(schedule).data, status=code)

    @extend_schema(request=ScheduleWriteSerializer, responses={201: ScheduleDetailSerializer})
    def create(self, request, *args, **kwargs):
        """Make a schedule, owned (and run) by the caller; its first slot is the first after
        now (or from ``start_at``)."""
        data = self._written(partial=False)
        with schedule_errors():
            schedule = service.create(self.member, request=request, **data)
        return self._answer(schedule, status.HTTP_201_CREATED)

    @extend_schema(request=ScheduleWriteSerializer, responses=ScheduleDetailSerializer)
    def partial_update(self, request, *args, **kwargs):
        """Change fields; a change of cron, time zone, start or end restarts from the next
        slot after now."""
        schedule = self.get_object()
        data = self._written(partial=True)
        with schedule_errors():
            schedule = service.update(self.member, schedule, request=request, **data)
        return self._answer(schedule)

    def perform_destroy(self, instance):
        """The schedule goes; its runs stay as commands (their ``schedule`` becomes null)."""
        service.delete(self.member, instance, request=self.request)

    @extend_schema(request=None, responses=ScheduleDetailSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Stop making runs (runs already made go on); idempotent."""
        schedule = service.pause(self.member, self.get_object(), request=request)
        return self._answer(schedule)

    @extend_schema(request=None, responses=ScheduleDetailSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Make runs again from the next slot after now (slots of the pause do not run)."""
        schedule = service.resume(self.member, self.get_object(), request=request)
        return self._answer(schedule)

    @extend_schema(parameters=[OpenApiParameter(
        "count", int, description=f"How many (1 to {MAX_NEXT_RUNS}, default 10).")],
        responses=NextRunsSerializer)
    @action(detail=True, methods=["get"], url_path="next-runs")
    def next_runs(self, request, pk=None):
        """The nominal times of the next slots (from now for a paused schedule)."""
        raw = request.query_params.get("count", "10")
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_NEXT_RUNS:
            raise exceptions.ValidationError(
                {"count": [f"A whole number from 1 to {MAX_NEXT_RUNS}."]})
        return Response(NextRunsSerializer(
            {"next_runs": service.next_runs(self.get_object(), int(raw))}).data)
