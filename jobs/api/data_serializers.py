"""Portal API representation of data sources, datasets and saved queries.

A data source's ``target`` (file path or DSN with credentials) is write-only: it is accepted
on create and update and never serialized back.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.authentication import membership_of
from jobportal.fields import JSONField
from jobportal.problems import Conflict
from jobs import parameters, reads
from jobs.models import Dataset, DatasetFormat, DataSource, SavedQuery


def member_of(serializer):
    """The membership the request of ``serializer`` acts through."""
    return membership_of(serializer.context["request"])


def parameter_error(exc, field="parameters"):
    """A 400 naming each parameter: ``{"parameters": {"limit": ["must be an integer"]}}``."""
    return serializers.ValidationError({field: {name: [message]
                                                for name, message in exc.errors.items()}})


def _taken(model, member, name, instance, lookup="name"):
    """The name of another object of the account that ``name`` clashes with, or None (the
    existing name: a case-insensitive clash differs from what was typed)."""
    others = model.objects.filter(account_id=member.account_id, **{lookup: name})
    if instance is not None:
        others = others.exclude(pk=instance.pk)
    return others.values_list("name", flat=True).first()


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}],
                      "description": "A data source of your account, by id or name."})
class DataSourceRefField(serializers.Field):
    """A data source the caller may read, given by id or by name; shown as its id."""

    default_error_messages = {
        "invalid": "A data source id or name.",
        "missing": "No data source {value!r} in your account.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str) or data == "":
            self.fail("invalid")
        source = reads.data_source(member_of(self), data)
        if source is None:
            self.fail("missing", value=data)
        return source

    def to_representation(self, value):
        return value.pk


class DataSourceSerializer(serializers.ModelSerializer):
    """A data source; ``target`` is write-only (``has_target`` says whether one is set)."""

    target = serializers.CharField(write_only=True, required=False, max_length=4000,
                                   trim_whitespace=True,
                                   help_text="SQLite/DuckDB: absolute path of a file in "
                                   "JOBPORTAL_DATA_SOURCE_ROOT/<account slug>/ on the workers; "
                                   "PostgreSQL: DSN. Never shown again.")
    has_target = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = DataSource
        fields = ["id", "name", "description", "engine", "target", "has_target", "is_default",
                  "created_by", "created_at", "updated_at"]
        read_only_fields = ["is_default", "created_at", "updated_at"]

    def get_has_target(self, obj) -> bool:
        return bool(obj.target) or obj.is_default

    def validate_name(self, value):
        if value == DataSource.DEFAULT_NAME:
            raise serializers.ValidationError(f"{value!r} is the name of the built-in source.")
        if existing := _taken(DataSource, member_of(self), value, self.instance):
            raise serializers.ValidationError(
                f"A data source named {existing!r} already exists.")
        return value

    def validate(self, attrs):
        if self.instance is not None and self.instance.is_default:
            raise Conflict("The built-in data source cannot be changed.")
        engine = attrs.get("engine", getattr(self.instance, "engine", None))
        if engine is None:
            raise serializers.ValidationError({"engine": "Required."})
        if "target" not in attrs and (self.instance is None or ("engine" in attrs
                                      and attrs["engine"] != self.instance.engine)):
            raise serializers.ValidationError({"target": f"Required for a {engine} source."})
        probe = DataSource(account=member_of(self).account, engine=engine,
                           target=attrs.get("target", getattr(self.instance, "target", "")))
        problem = probe.target_problem()
        if problem:
            raise serializers.ValidationError({"target": problem})
        return attrs


class DatasetSerializer(serializers.ModelSerializer):
    """A dataset as registered; only its name and description can change."""

    created_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = Dataset
        fields = ["id", "name", "description", "format", "columns", "row_count", "size",
                  "created_by", "created_at", "updated_at"]
        read_only_fields = ["format", "columns", "row_count", "size", "created_at",
                            "updated_at"]

    def validate_name(self, value):
        if existing := _taken(Dataset, member_of(self), value, self.instance,
                              lookup="name__iexact"):
            raise serializers.ValidationError(
                f"A dataset named {existing!r} already exists (names are case-insensitive).")
        return value


class DatasetUploadSerializer(DatasetSerializer):
    """Multipart upload: ``name``, ``file`` (CSV or Parquet), optional ``format``."""

    file = serializers.FileField(write_only=True, allow_empty_file=False)
    format = serializers.ChoiceField(choices=DatasetFormat.choices, required=False,
                                     help_text="Default: from the file name, else sniffed.")

    class Meta(DatasetSerializer.Meta):
        fields = [*DatasetSerializer.Meta.fields, "file"]
        read_only_fields = [f for f in DatasetSerializer.Meta.read_only_fields if f != "format"]


class SavedQuerySerializer(serializers.ModelSerializer):
    """A saved query; every edit bumps ``version`` (``SavedQuery.edit``)."""

    data_source = DataSourceRefField(required=False, allow_null=True)
    parameters = JSONField(required=False, help_text=(
        '[{"name": "day", "type": "string|integer|number|boolean|date", "default": ..., '
        '"required": true}]; used in the SQL as :day.'))
    created_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)
    updated_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = SavedQuery
        fields = ["id", "name", "description", "sql", "data_source", "parameters", "version",
                  "created_by", "updated_by", "created_at", "updated_at"]
        read_only_fields = ["version", "created_at", "updated_at"]

    def validate_name(self, value):
        if existing := _taken(SavedQuery, member_of(self), value, self.instance):
            raise serializers.ValidationError(
                f"A saved query named {existing!r} already exists.")
        return value

    def validate(self, attrs):
        sql = attrs.get("sql", getattr(self.instance, "sql", ""))
        schema = attrs.get("parameters", getattr(self.instance, "parameters", []))
        try:
            attrs["parameters"] = parameters.check_schema(schema, sql)
        except parameters.ParameterError as exc:
            raise parameter_error(exc) from exc
        return attrs

    def update(self, instance, validated_data):
        return instance.edit(member_of(self).user, **validated_data)



class ResultPageSerializer(serializers.Serializer):
    """For the schema: one page of a result (SQL rows, or a shell command's stdout)."""

    command_type = serializers.CharField()
    columns = serializers.ListField(child=serializers.DictField(), required=False,
                                    help_text='SQL: [{"name": ..., "type": ...}].')
    rows = serializers.ListField(child=serializers.ListField(), required=False)
    row_count = serializers.IntegerField(required=False, help_text="SQL: rows in the result.")
    truncated = serializers.BooleanField(required=False,
                                         help_text="SQL: the result hit the row/byte limit.")
    offset_start = serializers.IntegerField(required=False)
    offset_end = serializers.IntegerField(required=False, allow_null=True,
                                          help_text="SQL: index of the last row returned.")
    next_offset = serializers.IntegerField(required=False, allow_null=True)
    next_cursor = serializers.CharField(required=False, allow_null=True)
    next = serializers.URLField(required=False, allow_null=True)
    result = serializers.CharField(required=False, help_text="Shell: stdout text.")
    offset = serializers.IntegerField(required=False)
    more = serializers.BooleanField(required=False)
