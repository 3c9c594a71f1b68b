"""A command as Qubole's "View Command Status" shows it, built from the row in one pass.

Every field of Qubole's sample response is present. What the portal has no counterpart for
is null (clusters, sessions) or fixed (``template``). Qubole-only request fields
(the original command type, a label used as a data source name, ``pool``, ``can_notify``) are
kept in the command's ``metadata`` under ``qubole_*`` keys (see :mod:`.submit`), so no model
field exists for one shape alone.

``user_id`` is the submitter's membership (Qubole's account-scoped user), ``uid`` the user.
"""

import json
from datetime import UTC

from accounts.models import Membership
from jobs.models import CommandType, Source
from jobs.statuses import Shape, word

META_PREFIX = "qubole_"
SOURCES = {Source.API: "API", Source.UI: "UI", Source.ADMIN: "ADMIN", Source.RERUN: "RERUN",
           Source.SCHEDULE: "SCHEDULER"}
DEFAULT_TYPE = {CommandType.SHELL: "ShellCommand", CommandType.SQL: "SqlCommand"}


def meta(command, name, default=None):
    """A Qubole-only field recorded at submission (``metadata["qubole_<name>"]``)."""
    return (command.metadata or {}).get(META_PREFIX + name, default)


def qubole_type(command):
    """The Qubole command type the command was submitted as (or the portal type's own)."""
    return meta(command, "command_type") or DEFAULT_TYPE[command.command_type]


def epoch(value):
    """Epoch seconds, or None."""
    return int(value.timestamp()) if value is not None else None


def stamp(value):
    """Qubole's ``2019-09-17 23:37:14 UTC``."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else None


def membership_ids(account_id, user_ids):
    """``{user id: membership id}`` in the account, one query (none for no users)."""
    ids = {pk for pk in user_ids if pk is not None}
    if not ids:
        return {}
    return dict(Membership.objects.filter(account_id=account_id, user_id__in=ids)
                .values_list("user_id", "pk"))


def member_id_of(command, member):
    """The submitter's membership id: the caller's own without a query."""
    if command.user_id is None:
        return None
    if command.user_id == member.user_id:
        return member.pk
    return membership_ids(command.account_id, [command.user_id]).get(command.user_id)


def _email(command):
    if hasattr(command, "user_email"):
        return command.user_email
    return command.user.email if command.user_id else None


def command_object(command, kind):
    """Qubole's ``command``: what runs, under the names of its command type."""
    if command.command_type == CommandType.SHELL:
        return {"inline": command.script, "script_location": None, "files": None,
                "archives": None, "parameters": None}
    body = {"query": command.query, "script_location": None, "md_cmd": False}
    if kind == "SparkCommand":
        body["sql"] = command.query
    if kind == "DbTapQueryCommand":
        body["db_tap_id"] = command.data_source_id
    return body


def qlog(command):
    """The result's columns in Qubole's query log form, for a finished SQL command."""
    if command.command_type != CommandType.SQL or not command.result_columns:
        return None
    schema = [{"ColumnName": c.get("name"), "ColumnType": c.get("type")}
              for c in command.result_columns]
    return json.dumps({"QBOL-QUERY-SCHEMA": {"-1": schema}})


LOOKUP = object()  # command_json's user_id: find the submitter's membership


def command_json(command, member, user_id=LOOKUP):
    """The command as Qubole shows it; ``user_id`` (the submitter's membership) when the
    caller already knows it, else looked up (no query for the caller's own commands)."""
    kind = qubole_type(command)
    pk = command.pk
    return {
        "id": pk,
        # Qubole's form of the path; nothing is stored there.
        "path": f"/tmp/{command.created_at:%Y-%m-%d}/{command.account_id}/{pk}",  # noqa: S108
        "status": word(Shape.QUBOLE, command.status, command.throttled),
        "created_at": stamp(command.created_at),
        "updated_at": stamp(command.updated_at),
        "command_type": kind,
        "progress": command.progress,
        "qbol_session_id": None,
        "qlog": qlog(command),
        "resolved_macros": command.resolved_macros,
        "template": "generic",
        "submit_time": epoch(command.created_at),
        "start_time": epoch(command.started_at),
        "end_time": epoch(command.finished_at),
        "can_notify": meta(command, "can_notify") == "true",
        "pool": meta(command, "pool"),
        "timeout": command.timeout,
        "name": command.name or None,
        "command_source": SOURCES.get(command.source, "API"),
        "nominal_time": stamp(command.nominal_time),  # a schedule's run: its slot
        "sequence_id": command.sequence_id,
        "account_id": command.account_id,
        "saved_query_mutable_id": command.saved_query_id,
        "user_id": member_id_of(command, member) if user_id is LOOKUP else user_id,
        "label": meta(command, "label") or command.label,
        "meta_data": {"results_resource": f"commands/{pk}/results",
                      "logs_resource": f"commands/{pk}/logs"},
        "uid": command.user_id,
        "email": _email(command),
        "command": command_object(command, kind),
        "throttled": command.throttled,
        "cluster_inst_id": None,
        "cluster_id": None,
        "tags": command.tags or [],
        "exit_code": command.exit_code,
        "error_message": command.error_message or None,
    }


def commands_json(commands, member):
    """A page of commands, with their submitters' memberships in one query."""
    ids = membership_ids(member.account_id, [c.user_id for c in commands])
    return [command_json(c, member, ids.get(c.user_id)) for c in commands]
