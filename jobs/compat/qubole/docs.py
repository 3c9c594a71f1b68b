"""The OpenAPI description of the Qubole shape's JSON (the views build it in
:mod:`.representation`; a test holds the two together). Nothing here validates a request:
:mod:`.submit` and the portal's serializers do."""

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

N = {"allow_null": True}


class QuboleMetaDataSerializer(serializers.Serializer):
    results_resource = serializers.CharField()
    logs_resource = serializers.CharField()


class QuboleCommandSerializer(serializers.Serializer):
    """A command as Qubole's View Command Status shows it."""

    id = serializers.IntegerField()
    path = serializers.CharField()
    status = serializers.CharField(help_text="waiting, running, done, error or cancelled.")
    created_at = serializers.CharField(help_text="YYYY-MM-DD HH:MM:SS UTC")
    updated_at = serializers.CharField()
    command_type = serializers.CharField()
    progress = serializers.IntegerField()
    qbol_session_id = serializers.IntegerField(**N)
    qlog = serializers.CharField(**N, help_text="SQL: the result's columns, as JSON text.")
    resolved_macros = serializers.DictField(**N)
    template = serializers.CharField()
    submit_time = serializers.IntegerField(help_text="Epoch seconds.")
    start_time = serializers.IntegerField(**N)
    end_time = serializers.IntegerField(**N)
    can_notify = serializers.BooleanField()
    pool = serializers.CharField(**N)
    timeout = serializers.IntegerField(**N)
    name = serializers.CharField(**N)
    command_source = serializers.CharField()
    nominal_time = serializers.CharField(**N)
    sequence_id = serializers.IntegerField(**N)
    account_id = serializers.IntegerField()
    saved_query_mutable_id = serializers.IntegerField(**N)
    user_id = serializers.IntegerField(**N, help_text="The submitter's membership.")
    label = serializers.CharField()
    meta_data = QuboleMetaDataSerializer()
    uid = serializers.IntegerField(**N, help_text="The submitter's user id.")
    email = serializers.CharField(**N)
    command = serializers.DictField(help_text="query/script_location (SQL) or inline (shell).")
    throttled = serializers.BooleanField()
    cluster_inst_id = serializers.IntegerField(**N)
    cluster_id = serializers.IntegerField(**N)
    tags = serializers.ListField(child=serializers.CharField())
    exit_code = serializers.IntegerField(**N)
    error_message = serializers.CharField(**N)


class QubolePagingSerializer(serializers.Serializer):
    previous_page = serializers.IntegerField(**N)
    next_page = serializers.IntegerField(**N)
    per_page = serializers.IntegerField()


class QuboleCommandListSerializer(serializers.Serializer):
    paging_info = QubolePagingSerializer()
    commands = QuboleCommandSerializer(many=True)


class QuboleSubmitSerializer(serializers.Serializer):
    """What the SDK sends (extra keys and nulls are tolerated)."""

    command_type = serializers.CharField(help_text=(
        "ShellCommand, PrestoCommand, HiveCommand, SqlCommand, SparkCommand or "
        "DbTapQueryCommand."))
    inline = serializers.CharField(required=False, help_text="ShellCommand: the script.")
    query = serializers.CharField(required=False, help_text="SQL commands: the query.")
    sql = serializers.CharField(required=False, help_text="SparkCommand: the SQL.")
    db_tap_id = serializers.IntegerField(required=False, help_text="A data source id.")
    label = serializers.CharField(required=False, help_text=(
        "A worker queue, or (SQL) a data source name."))
    name = serializers.CharField(required=False, **N)
    tags = serializers.ListField(child=serializers.CharField(), required=False, **N)
    macros = serializers.JSONField(required=False)
    timeout = serializers.IntegerField(required=False, **N)
    pool = serializers.CharField(required=False, **N)
    can_notify = serializers.BooleanField(required=False)


class QuboleKillSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"kill"')


class QuboleKillResultSerializer(serializers.Serializer):
    kill_succeeded = serializers.BooleanField()
    result = serializers.CharField()
    status = serializers.CharField()


class QuboleResultsSerializer(serializers.Serializer):
    inline = serializers.BooleanField()
    results = serializers.CharField(help_text="Tab-separated rows, one a line.")
    command_type = serializers.CharField()
    truncated = serializers.BooleanField(help_text=(
        "The command's output hit the portal's limits (JOBPORTAL_MAX_RESULT_ROWS / _BYTES, "
        "JOBPORTAL_MAX_LOG_BYTES): the result is cut there."))


class QuboleRoleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    source = serializers.CharField(help_text="system-defined or user-defined.")
    policy = serializers.CharField(help_text="The policy statements, as JSON text.")
    account_id = serializers.IntegerField()


class QuboleGroupSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    source = serializers.CharField(help_text="system-defined or user-defined.")
    account_id = serializers.IntegerField()
    roles = serializers.ListField(child=serializers.DictField())
    members = serializers.ListField(child=serializers.DictField())


def _wrapped(name, key, inner, many=False):
    return type(name, (serializers.Serializer,), {
        "status": serializers.CharField(required=False),
        key: inner(many=many),
        "__module__": __name__,
    })


RoleListSerializer = _wrapped("QuboleRoleList", "roles", QuboleRoleSerializer, many=True)
RoleChangeSerializer = _wrapped("QuboleRoleChange", "roles", QuboleRoleSerializer)
GroupListSerializer = _wrapped("QuboleGroupList", "groups", QuboleGroupSerializer, many=True)
GroupChangeSerializer = _wrapped("QuboleGroupChange", "groups", QuboleGroupSerializer)


class QuboleRoleBodySerializer(serializers.Serializer):
    name = serializers.CharField(required=False)
    policies = serializers.CharField(required=False, help_text=(
        'JSON text (or a list): [{"access": "allow", "resource": "all"}]'))


class QuboleGroupBodySerializer(serializers.Serializer):
    name = serializers.CharField(required=False)
    members = serializers.CharField(required=False, help_text="Comma-separated user ids.")
    roles = serializers.CharField(required=False, help_text="Comma-separated role ids.")
    removed_members = serializers.CharField(required=False)
    removed_roles = serializers.CharField(required=False)


class QuboleUsersSerializer(serializers.Serializer):
    qbol_users = serializers.ListField(child=serializers.DictField())


class QuboleStatusSerializer(serializers.Serializer):
    status = serializers.CharField()


def _query(name, kind, text):
    return OpenApiParameter(name, kind, location=OpenApiParameter.QUERY, description=text)


ID = OpenApiParameter("id", int, location=OpenApiParameter.PATH, description="The id.")
INCLUDE_QUERY_PROPERTIES = _query("include_query_properties", str, "Accepted; no effect.")
LIST_PARAMETERS = [
    _query("page", int, "Page number, from 1."),
    _query("per_page", int, "Commands a page (default 10, at most 100)."),
    _query("all_users", int, "1: the account's commands (where the role allows reading them)."),
    _query("command_type", str, "e.g. ShellCommand, PrestoCommand."),
    _query("status", str, "waiting, running, done, error or cancelled."),
    _query("name", str, "The command's name."),
    _query("start_date", str, "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (inclusive)."),
    _query("end_date", str, "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (inclusive)."),
]
LOG_PARAMETERS = [_query("err_file_processed", int, "Log bytes already read."),
                  _query("tmp_file_processed", int, "Accepted; always 0 here.")]
RESULT_PARAMETERS = [_query("inline", str, "Results always come inline here."),
                     _query("include_headers", str, "true: a line of column names first.")]
PAGE_PARAMETERS = [_query("page", int, "Page number, from 1."),
                   _query("per_page", int, "Items a page (default 100, at most 100).")]
