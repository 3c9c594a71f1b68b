"""Portal API representation of schedules. The fields one by one here; the rules that need
the database or the member's rights (cron, time zone, the command template, the saved
query, a name in use) in :mod:`jobs.schedules.service`."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import policy
from jobportal.fields import JSONField, StrictCharField
from jobs import reads
from jobs.api.data_serializers import member_of
from jobs.models import Command, SavedQuery
from jobs.schedules import service
from jobs.schedules.model import CatchUp, Concurrency, Schedule


@extend_schema_field({"oneOf": [{"type": "integer", "minimum": 1},
                                 {"type": "string", "minLength": 1, "maxLength": 200}],
                      "description": "A saved query of your account, by id or name."})
class SavedQueryRefField(serializers.Field):
    """A saved query the caller may read, by id or name (a string of digits is an id);
    shown as its id."""

    default_error_messages = {"invalid": "A saved query id or name.",
                              "missing": "No saved query {value!r} in your account."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str) or data == "" or (
                isinstance(data, str) and len(data) > 200):
            self.fail("invalid")
        visible = policy.restrict(SavedQuery.objects.all(), member_of(self), "read",
                                  "saved_queries")
        pk = reads.parse_pk(data)
        found = (visible.filter(pk=pk) if pk is not None else visible.filter(name=data)).first()
        if found is None:
            self.fail("missing", value=data)
        return found

    def to_representation(self, value):
        return value.pk


class ScheduleWriteSerializer(serializers.Serializer):
    """What a client sends to make or change a schedule: ``command`` (the body of
    ``POST /api/v1/commands/``) or ``saved_query`` with ``parameters``."""

    name = StrictCharField(max_length=200)
    description = StrictCharField(required=False, allow_blank=True, max_length=10_000)
    cron = StrictCharField(max_length=120, help_text=(
        "Five fields (minute hour day-of-month month day-of-week) or @hourly, @daily, "
        "@weekly, @monthly, @yearly."))
    timezone = StrictCharField(required=False, max_length=64, help_text=(
        "IANA time zone the cron expression is read in (default UTC)."))
    command = JSONField(required=False, help_text=(
        "The body of POST /api/v1/commands/ each run submits (no submission_id); "
        "$nominal_time$, $nominal_date$ and $sequence_id$ are macros of every run."))
    saved_query = SavedQueryRefField(required=False, allow_null=True)
    parameters = JSONField(required=False, help_text=(
        "The saved query's parameter values; a string may use the slot's macros."))
    start_at = serializers.DateTimeField(required=False, allow_null=True)
    end_at = serializers.DateTimeField(required=False, allow_null=True)
    concurrency = serializers.ChoiceField(choices=Concurrency.choices, required=False)
    catch_up = serializers.ChoiceField(choices=CatchUp.choices, required=False)
    paused = serializers.BooleanField(required=False)

    def validate_parameters(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("An object of parameter names to values.")
        return value


class LastRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = Command
        fields = ["id", "status", "nominal_time", "sequence_id", "finished_at"]
        read_only_fields = fields


class ScheduleSerializer(serializers.ModelSerializer):
    """A schedule; ``next_run_at`` is the nominal time of its pending slot (null once it has
    ended), ``last_run`` its latest run, ``last_error`` why its latest slot made no run."""

    created_by = serializers.SlugRelatedField(slug_field="email", read_only=True,
                                              allow_null=True)
    last_run = LastRunSerializer(read_only=True, allow_null=True)
    command = serializers.JSONField(read_only=True)
    parameters = serializers.JSONField(read_only=True)

    class Meta:
        model = Schedule
        fields = ["id", "name", "description", "cron", "timezone", "command", "saved_query",
                  "parameters", "start_at", "end_at", "concurrency", "catch_up", "paused",
                  "next_run_at", "last_sequence_id", "last_run", "last_error",
                  "last_error_at", "created_by", "created_at", "updated_at"]
        read_only_fields = fields


class ScheduleDetailSerializer(ScheduleSerializer):
    """The detail adds the nominal times of the next five slots."""

    next_runs = serializers.SerializerMethodField()

    class Meta(ScheduleSerializer.Meta):
        fields = [*ScheduleSerializer.Meta.fields, "next_runs"]
        read_only_fields = fields

    def get_next_runs(self, obj) -> list[str]:
        return [serializers.DateTimeField().to_representation(t)
                for t in service.next_runs(obj)]


class NextRunsSerializer(serializers.Serializer):
    next_runs = serializers.ListField(child=serializers.DateTimeField())
