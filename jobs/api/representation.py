"""The portal API's representation of a command, built from the row without a serializer.

A ``ModelSerializer`` of fifty fields cost a quarter of a status request; this builds the
same JSON (DRF's formats: ISO 8601 times with ``Z``, related objects as ids) in one pass.
``CommandSerializer`` / ``CommandDetailSerializer`` stay as the OpenAPI description of it (and
name its fields); a test holds the two to the same output.
"""

from accounts import policy
from jobs.api.serializers import CommandDetailSerializer, CommandSerializer
from jobs.reads import waiting_state
from notifications import notify

# The keys and their order: the documented serializer's, so clients and the schema see one
# shape (named there, once).
FIELDS = tuple(CommandSerializer.Meta.fields)
TIME_FIELDS = ("created_at", "queued_at", "started_at", "finished_at", "updated_at",
               "heartbeat_at", "cancel_requested_at", "nominal_time")
RELATED_FIELDS = ("rerun_of", "data_source", "saved_query", "schedule")  # shown as ids
COMPUTED_FIELDS = ("account", "user", "runtime_env", "metadata")  # see command_data
PLAIN_FIELDS = tuple(name for name in FIELDS  # shown as stored
                     if name not in (*TIME_FIELDS, *RELATED_FIELDS, *COMPUTED_FIELDS))
DETAIL_FIELDS = tuple(CommandDetailSerializer.Meta.fields)


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
    data["metadata"] = policy.visible_metadata(member, command)
    return {name: data[name] for name in FIELDS}


def command_detail(command, member):
    """The detail: the list representation plus where a waiting or queued command stands and
    what holds it (one more query, only for those), and whom it notifies (one more query,
    only for commands that notify anyone)."""
    data = command_data(command, member)
    data["queue_position"], data["held_by"] = waiting_state(
        command, member.account.max_concurrency)
    data["notify"] = notify.describe(command)
    return data
