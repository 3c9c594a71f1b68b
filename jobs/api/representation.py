"""The portal API's representation of a command, built from the row without a serializer.

A ``ModelSerializer`` of fifty fields cost a quarter of a status request; this builds the
same JSON (DRF's formats: ISO 8601 times with ``Z``, related objects as ids) in one pass.
``CommandSerializer`` / ``CommandDetailSerializer`` stay as the OpenAPI description of it, and
a test holds the two to the same fields.
"""

from accounts import policy
from jobs.reads import waiting_state

# Shown as stored.
PLAIN_FIELDS = (
    "id", "submission_id", "command_type", "source", "name", "label", "tags", "script",
    "query", "macros", "resolved_macros", "metadata", "timeout", "status", "throttled",
    "progress", "steps_ready", "steps_total", "node_id", "hostname", "ip_address", "pid",
    "worker_id", "attempt", "exit_code", "error_type", "error_message", "log_size",
    "log_truncated", "saved_query_version", "parameters", "result_columns", "result_row_count",
    "result_truncated", "statements_done", "statements_total",
)
TIME_FIELDS = ("created_at", "queued_at", "started_at", "finished_at", "updated_at",
               "heartbeat_at", "cancel_requested_at")
RELATED_FIELDS = ("rerun_of", "data_source", "saved_query")  # shown as ids
# The order of the keys: the serializer's, so clients and the schema see one shape.
FIELDS = (
    "id", "submission_id", "account", "user", "command_type", "source", "name", "label",
    "tags", "script", "query", "macros", "resolved_macros", "runtime_env", "metadata",
    "timeout", "rerun_of", "status", "throttled", "progress", "steps_ready", "steps_total",
    *TIME_FIELDS, "node_id", "hostname", "ip_address", "pid", "worker_id", "attempt",
    "exit_code", "error_type", "error_message", "log_size", "log_truncated", "data_source",
    "saved_query", "saved_query_version", "parameters", "result_columns", "result_row_count",
    "result_truncated", "statements_done", "statements_total",
)
DETAIL_FIELDS = (*FIELDS, "queue_position", "held_by")


def iso(value):
    """A datetime as DRF writes it (``2026-11-23T14:00:00.123456Z``), or None."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _email(command):
    # jobs.reads sets user_email on what it reads; a command just submitted has its user.
    if hasattr(command, "user_email"):
        return command.user_email
    return command.user.email if command.user_id else None


def command_data(command, member):
    """The list representation of ``command`` as ``member`` sees it."""
    data = {name: getattr(command, name) for name in PLAIN_FIELDS}
    data.update((name, iso(getattr(command, name))) for name in TIME_FIELDS)
    data.update((name, getattr(command, f"{name}_id")) for name in RELATED_FIELDS)
    data["account"] = member.account.slug
    data["user"] = _email(command)
    data["runtime_env"] = policy.visible_runtime_env(member, command)
    return {name: data[name] for name in FIELDS}


def command_detail(command, member):
    """The detail: the list representation plus where a waiting command stands and the limit
    that holds it (one more query, only for a waiting command)."""
    data = command_data(command, member)
    position, holding = waiting_state(command)
    data["queue_position"] = position
    data["held_by"] = {"limit": "max_concurrency",
                       "max_concurrency": member.account.max_concurrency,
                       "active": holding} if command.throttled and holding is not None else None
    return data
