"""Portal API representation of commands. Validation here; state changes in jobs.lifecycle."""

import re

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobportal.fields import JSONField, StrictCharField
from jobportal.limits import MAX_BIGINT
from jobs.models import Command, CommandType
from jobs.reads import waiting_state
from notifications.notify import describe

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
SUBMISSION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


@extend_schema_field({"oneOf": [{"type": "integer", "minimum": 1},
                                 {"type": "string", "minLength": 1}],
                      "description": "An id or a name (a string of digits is an id)."})
class IdOrName(serializers.Field):
    """An object of the account by id or name (which one, and whether the caller may use it,
    is the submission service's question)."""

    default_error_messages = {"invalid": "An id or a name."}

    def __init__(self, *, max_length=100, **kwargs):
        self.max_length = max_length
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str) or data == "":
            self.fail("invalid")
        if isinstance(data, str) and len(data) > self.max_length:
            self.fail("invalid")
        if isinstance(data, int) and not 1 <= data <= MAX_BIGINT:
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class CommandSerializer(serializers.ModelSerializer):
    """Everything a client may want to know about a command (read-only): the OpenAPI
    description of what :mod:`jobs.api.representation` builds."""

    user = serializers.SerializerMethodField()
    account = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Command
        fields = [
            "id", "submission_id", "account", "user", "command_type", "source", "name", "label",
            "tags", "script", "query", "macros", "resolved_macros", "runtime_env", "metadata",
            "timeout", "rerun_of", "status", "throttled", "progress", "steps_ready",
            "steps_total", "created_at", "queued_at", "started_at", "finished_at", "updated_at",
            "heartbeat_at", "cancel_requested_at", "node_id", "hostname", "ip_address", "pid",
            "worker_id", "attempt", "exit_code", "error_type", "error_message", "log_size",
            "log_truncated", "data_source", "saved_query", "saved_query_version", "parameters",
            "result_columns", "result_row_count", "result_truncated", "statements_done",
            "statements_total", "schedule", "nominal_time", "sequence_id",
        ]
        read_only_fields = fields

    def get_user(self, obj) -> str | None:
        return obj.user.email if obj.user_id else None


class CommandDetailSerializer(CommandSerializer):
    """Detail adds where a waiting command stands and the limit that holds it.

    The API builds this JSON with :mod:`jobs.api.representation`; this serializer is its
    OpenAPI description and the reference a test holds the representation to."""

    queue_position = serializers.SerializerMethodField()
    held_by = serializers.SerializerMethodField()
    notify = serializers.SerializerMethodField()

    class Meta(CommandSerializer.Meta):
        fields = [*CommandSerializer.Meta.fields, "queue_position", "held_by", "notify"]
        read_only_fields = fields

    def get_queue_position(self, obj) -> int | None:
        return waiting_state(obj, obj.account.max_concurrency)[0]

    def get_held_by(self, obj) -> dict | None:
        """What holds a command that waits: ``{"limit": "max_concurrency", "max_concurrency",
        "active"}`` (the account's limit) or ``{"limit": "workers", "label", "running"}`` (no
        free worker on its label)."""
        return waiting_state(obj, obj.account.max_concurrency)[1]

    @extend_schema_field({"type": "object", "nullable": True, "properties": {
        "on": {"type": "string", "enum": ["end", "failure"]},
        "webhooks": {"type": "array", "items": {"type": "string"}},
        "emails": {"type": "array", "items": {"type": "string"}}}})
    def get_notify(self, obj):
        """Whom the command notifies when it ends (its ``notify``, endpoints by name), or
        null."""
        return describe(obj)


class RuntimeEnvSerializer(serializers.Serializer):
    env_vars = serializers.DictField(child=StrictCharField(allow_blank=True,
                                                           max_length=32768),
                                     required=False)
    working_dir = StrictCharField(required=False, max_length=1000)

    def validate_env_vars(self, value):
        bad = [name for name in value if not ENV_NAME_RE.match(name)]
        if bad:
            raise serializers.ValidationError(f"Invalid variable name(s): {', '.join(bad)}.")
        reserved = [name for name in value if name.startswith("JOBPORTAL_")]
        if reserved:
            raise serializers.ValidationError(
                f"JOBPORTAL_* variables are set by the portal: {', '.join(reserved)}.")
        return value

    def validate_working_dir(self, value):
        from pathlib import Path

        allowed = [Path(p).resolve() for p in settings.JOBPORTAL["ALLOWED_WORKING_DIRS"]]
        path = Path(value)
        if not path.is_absolute() or not any(
            path.resolve().is_relative_to(root) for root in allowed
        ):
            raise serializers.ValidationError(
                "working_dir must be an absolute path inside an allowed directory "
                "(JOBPORTAL_ALLOWED_WORKING_DIRS); by default every command gets a fresh one.")
        if not path.is_dir():
            raise serializers.ValidationError("working_dir does not exist on the server.")
        return str(path.resolve())


class NotifySerializer(serializers.Serializer):
    """Who hears of the command's end (docs/notifications.md): the account's webhook
    endpoints and e-mail to the account's members."""

    on = serializers.ChoiceField(choices=["end", "failure"], default="end", help_text=(
        "end: done, error or cancelled; failure: error only (timeouts and lost workers "
        "included)."))
    webhooks = serializers.ListField(child=IdOrName(), required=False, max_length=20,
                                     help_text="Webhook endpoints of the account, by id or name.")
    emails = serializers.ListField(child=serializers.EmailField(max_length=254),
                                   required=False, max_length=20,
                                   help_text="Addresses of the account's members.")

    def validate(self, attrs):
        if not attrs.get("webhooks") and not attrs.get("emails"):
            raise serializers.ValidationError("Name at least one of webhooks or emails.")
        return attrs


class SubmitSerializer(serializers.Serializer):
    """What a client may send to submit a command; the type decides what is required."""

    command_type = serializers.ChoiceField(choices=CommandType.choices)
    script = StrictCharField(required=False, allow_blank=False, max_length=1_000_000,
                             trim_whitespace=False)
    query = StrictCharField(required=False, allow_blank=False, max_length=1_000_000,
                            trim_whitespace=False)
    name = StrictCharField(required=False, allow_blank=True, max_length=200)
    label = StrictCharField(required=False, max_length=100)
    tags = serializers.ListField(child=StrictCharField(max_length=100), required=False,
                                 max_length=50)
    timeout = serializers.IntegerField(required=False, min_value=1)
    runtime_env = RuntimeEnvSerializer(required=False)
    metadata = serializers.DictField(child=StrictCharField(allow_blank=True,
                                                           max_length=10000),
                                     required=False)
    macros = JSONField(required=False)
    submission_id = StrictCharField(required=False, max_length=128)
    data_source = IdOrName(required=False, help_text=(
        "SQL: a data source of your account (id or name); default: the built-in DuckDB "
        "source over your datasets, or the saved query's source."))
    parameters = JSONField(required=False, help_text=(
        "SQL: values for the :name placeholders, bound as values, never pasted into the SQL."))
    saved_query = IdOrName(required=False, max_length=200, help_text=(
        "SQL: run this saved query, by id or name (its SQL, data source and parameter "
        "schema)."))
    notify = NotifySerializer(required=False, help_text=(
        "Webhooks and e-mail when the command ends."))

    def validate_label(self, value):
        if not NAME_RE.match(value):
            raise serializers.ValidationError("Letters, digits, '_', '.' and '-' only.")
        return value

    def validate_submission_id(self, value):
        if not SUBMISSION_ID_RE.match(value):
            raise serializers.ValidationError("Letters, digits, '_', '.', ':' and '-' only.")
        return value

    def validate_timeout(self, value):
        ceiling = settings.JOBPORTAL["MAX_TIMEOUT_SECONDS"]
        if value > ceiling:
            raise serializers.ValidationError(f"At most {ceiling} seconds.")
        return value

    def validate_macros(self, value):
        """Qubole sends ``[{"name": "value"}, …]``; a plain object is accepted too."""
        if isinstance(value, list):
            merged = {}
            for item in value:
                if not isinstance(item, dict):
                    raise serializers.ValidationError("A list of {name: value} objects.")
                merged.update(item)
            value = merged
        if not isinstance(value, dict) or not all(
            isinstance(v, str | int | float | bool) for v in value.values()
        ):
            raise serializers.ValidationError("An object of names to scalar values.")
        return {str(k): str(v) for k, v in value.items()}

    def validate(self, attrs):
        """What one field cannot say alone: which fields a command type uses."""
        kind = attrs["command_type"]
        served = settings.JOBPORTAL["LABELS"]
        if served and attrs.get("label", "default") not in served:
            # A label no worker serves would leave the command queued, holding a slot.
            raise serializers.ValidationError(
                {"label": f"Not a served label; one of: {', '.join(served)}."})
        if kind != CommandType.SQL:
            extra = [f for f in ("query", "data_source", "parameters", "saved_query")
                     if f in attrs]
            if extra:
                raise serializers.ValidationError({f: "Only for sql commands." for f in extra})
            if not attrs.get("script"):
                raise serializers.ValidationError({"script": f"Required for {kind} commands."})
            return attrs
        if attrs.get("script"):
            raise serializers.ValidationError({"script": f"Not used by {kind} commands."})
        if attrs.get("runtime_env"):
            raise serializers.ValidationError({"runtime_env": "Only for shell commands."})
        if "saved_query" in attrs:
            if attrs.get("query"):
                raise serializers.ValidationError(
                    {"query": "Comes from the saved query; send parameters instead."})
        elif not attrs.get("query"):
            raise serializers.ValidationError({"query": f"Required for {kind} commands."})
        return attrs


class LogPageSerializer(serializers.Serializer):
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField()
    data = serializers.CharField()
    more = serializers.BooleanField()
    size = serializers.IntegerField()
    stream = serializers.CharField()
