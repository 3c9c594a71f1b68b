"""A Qubole command body (as ``qds-sdk`` and ``qds.py`` send it) as a portal definition,
validated by the portal's own :class:`~jobs.api.serializers.SubmitSerializer` and submitted
through :func:`jobs.submission.submit`: the same rights, defaults, macros and audit.

The SDK sends every option of its parser, most of them null; those are tolerated, as are keys
this shape does not know. Options that would change what runs and that the portal cannot do
(fetching a script or files from object storage, Spark programs, notebooks) are refused with
a 422 naming the field, never silently dropped.
"""

from rest_framework import exceptions

from accounts.authentication import membership_of
from jobs import reads, submission
from jobs.api.serializers import SubmitSerializer
from jobs.compat.qubole.base import Invalid
from jobs.compat.qubole.representation import META_PREFIX
from jobs.models import CommandType, Source

# Qubole command type -> the key of its SQL text. ShellCommand runs ``inline``.
SQL_TYPES = {"PrestoCommand": "query", "HiveCommand": "query", "SqlCommand": "query",
             "SparkCommand": "sql", "DbTapQueryCommand": "query"}
SHELL = "ShellCommand"
SUPPORTED = (SHELL, *SQL_TYPES)
NO_STORAGE = ("the portal has no object storage: send the script itself (qds.py reads a "
              "local file given to -f and sends its text)")
# Keys accepted only when empty (the SDK sends them as null), and why.
UNSUPPORTED = {
    "script_location": NO_STORAGE,
    "files": NO_STORAGE, "archives": NO_STORAGE,
    "parameters": "script arguments come with a script_location, which is not supported",
    "program": "Spark programs are not run; SQL (--sql) is",
    "cmdline": "Spark command lines are not run; SQL (--sql) is",
    "note_id": "notebooks are not run", "app_id": "Spark job server apps are not run",
    "user_program_arguments": "Spark programs are not run",
    "arguments": "Spark submit options are not used",
    "sub_commands": "composite commands are not supported",
}
EMPTY = (None, "", 0, False, [], {}, "0")


def _text(body, key, required=False):
    value = body.get(key)
    if value is None:
        if required:
            raise Invalid(f"{key} is required for {body.get('command_type')}.", field=key)
        return None
    if not isinstance(value, str):
        raise Invalid(f"{key} must be a string.", field=key)
    return value


def _tags(value):
    if value is None:
        return None
    if isinstance(value, str):
        return [tag.strip() for tag in value.split(",") if tag.strip()]
    return value  # the serializer says what is wrong with anything else


def _data_source_id(value):
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    pk = reads.parse_pk(text)
    if pk is None:
        raise Invalid("db_tap_id must be the id of a data source.", field="db_tap_id")
    return pk


def _check_kind(body):
    kind = body.get("command_type")
    if kind not in SUPPORTED:
        raise Invalid(f"command_type {kind!r} is not supported; one of: "
                      f"{', '.join(SUPPORTED)}.", field="command_type")
    for key, reason in UNSUPPORTED.items():
        if body.get(key) not in EMPTY:
            raise Invalid(f"{key} is not supported: {reason}.", field=key)
    return kind


def definition(member, body):
    """``(payload for SubmitSerializer, {portal field: Qubole field})``."""
    if not isinstance(body, dict):
        raise Invalid("The body must be a JSON object.")
    kind = _check_kind(body)
    metadata = {f"{META_PREFIX}command_type": kind}
    payload = {"name": _text(body, "name") or "", "label": _text(body, "label"),
               "tags": _tags(body.get("tags")), "macros": body.get("macros") or None,
               "timeout": body.get("timeout")}
    names = {"script": "inline", "query": SQL_TYPES.get(kind, "query"),
             "data_source": "db_tap_id"}
    if kind == SHELL:
        payload.update(command_type=CommandType.SHELL, script=_text(body, "inline", True))
    else:
        payload.update(command_type=CommandType.SQL,
                       query=_text(body, SQL_TYPES[kind], True))
        if body.get("db_tap_id") is not None:
            payload["data_source"] = _data_source_id(body["db_tap_id"])
        elif payload["label"] not in (None, "default"):
            # A label naming a data source picks it (Qubole: the cluster that runs it);
            # any other label is a worker queue, as for shell commands.
            source = reads.data_source(member, payload["label"])
            if source is not None:
                metadata[f"{META_PREFIX}label"] = payload.pop("label")
                payload["data_source"] = source.pk
                names["data_source"] = "label"
    if body.get("can_notify") is True:
        # Qubole mails the submitter when the command ends; so does the portal, through the
        # command's notify (docs/notifications.md).
        metadata[f"{META_PREFIX}can_notify"] = "true"
        payload["notify"] = {"on": "end", "emails": [member.user.email]}
        names["notify"] = "can_notify"
    pool = _text(body, "pool")
    if pool:
        metadata[f"{META_PREFIX}pool"] = pool
    payload["metadata"] = metadata
    return {k: v for k, v in payload.items() if v is not None}, names


def submit(request):
    """Submit the request's Qubole command as the caller; ``(command, created)``."""
    member = membership_of(request)
    payload, names = definition(member, request.data)
    serializer = SubmitSerializer(data=payload, context={"request": request})
    if not serializer.is_valid():
        errors = {names.get(f, f): [str(m) for m in (v if isinstance(v, list) else [v])]
                  for f, v in serializer.errors.items()}
        field = next(iter(errors))
        raise Invalid(f"Invalid {field}: {' '.join(errors[field])}", field=field)
    try:
        return submission.submit(member, serializer.validated_data, source=Source.API,
                                 request=request, shape="qubole")
    except submission.InvalidDefinition as exc:
        raise Invalid(exc.message, field=names.get(exc.field, exc.field)) from exc
    except submission.NotAllowed as exc:
        raise exceptions.PermissionDenied(exc.message) from exc
