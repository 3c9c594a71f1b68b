"""The one way to submit a command, for every surface (portal API, saved-query runs, re-runs,
the admin, and each foreign API shape).

:func:`submit` takes a membership and a definition whose fields are already validated one by
one (types, lengths, patterns: a serializer's job) and does what needs the database and the
member's rights, in this order:

1. the right to submit that command type, to read the data source, to read and run the saved
   query (the same checks for a re-run, so a role taken away since also stops the re-run);
2. saved-query and data-source defaults, macros and typed parameters;
3. ``submission_id`` idempotency: the same definition answers the existing command, another
   one is a conflict, and so is an id used by a command the member may not see;
4. one transaction for the command row, its admission (:func:`jobs.lifecycle.submit`), its
   ``notify`` targets (:mod:`notifications.notify`) and the audit event, so nothing is half
   written.

It returns ``(command, created)`` and raises :class:`SubmissionError` subclasses, never an
HTTP response; each surface maps them to its own error format.
"""

import re

from django.db import IntegrityError, transaction

from accounts import audit, policy
from jobs import lifecycle, reads
from jobs.models import DEFINITION_FIELDS, Command, CommandType, DataSource, SavedQuery, Source
from jobs.parameters import ParameterError, bind_to_schema, check_values
from notifications import notify

MACRO_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)\$")


class SubmissionError(Exception):
    """Base class: why a submission was not accepted."""

    def __init__(self, message, field=None, errors=None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.errors = errors  # {name: message} for per-parameter errors, else None


class InvalidDefinition(SubmissionError):
    """A field names something that does not exist for this member (400, naming ``field``)."""


class NotAllowed(SubmissionError):
    """The member's role does not allow this submission (403)."""


class DuplicateSubmission(SubmissionError):
    """The ``submission_id`` is taken by another definition or an invisible command (409)."""


def submit(member, definition, *, source=Source.API, request=None, audit_action="commands.submit",
           **audit_detail):
    """Submit ``definition`` (a dict of validated fields) as ``member``.

    ``data_source`` may be a :class:`DataSource`, an id or a name; ``saved_query`` a
    :class:`SavedQuery` or an id. Returns ``(command, created)``.
    """
    fields = {key: value for key, value in definition.items() if value is not None}
    spec = fields.pop("notify", None)
    kind = fields["command_type"]
    require(member, "submit", "commands", command_type=kind,
            message=f"Your role may not submit {kind} commands.")
    if kind == CommandType.SQL:
        _resolve_sql(member, fields)
    _resolve_macros(fields)
    try:
        subscriptions = notify.resolve(member, spec) if spec else []
    except notify.NotifyError as exc:
        raise InvalidDefinition(str(exc), field="notify") from exc
    return _create(member, fields, source, request, audit_action, audit_detail,
                   lambda command: notify.subscribe(command, subscriptions))


def rerun(member, original, *, request=None, actor=None, via=None):
    """Submit ``original``'s definition again as ``member``, re-checking every right it needed
    (submit that type, read its data source, read and run its saved query). ``actor`` is who
    asked, when not the member (an operator in the admin), for the audit trail."""
    fields = original.definition()
    kind = fields["command_type"]
    require(member, "submit", "commands", command_type=kind,
            message=f"Your role may not submit {kind} commands.")
    if fields.get("data_source") is not None:
        _check_data_source(member, fields["data_source"])
    if fields.get("saved_query") is not None:
        _check_saved_query(member, fields["saved_query"])
    detail = {"rerun_of": original.pk, **({"via": via} if via else {})}
    if actor is not None:
        detail["actor"] = actor
    return _create(member, {**fields, "rerun_of": original}, Source.RERUN, request,
                   "commands.rerun", detail, lambda command: notify.copy(original, command))


def require(member, action, resource, obj=None, command_type=None, message=None):
    """Raise :class:`NotAllowed` unless the policy allows it."""
    if not policy.can(member, action, resource, obj=obj, command_type=command_type):
        raise NotAllowed(message or f"Your role may not {action} {resource}.")


# -- resolving a SQL definition ---------------------------------------------------------------


def _resolve_sql(member, fields):
    """Saved query (SQL, version, name, source, parameter schema), data source, parameters."""
    saved = fields.get("saved_query")
    if saved is not None:
        saved = fields["saved_query"] = _saved_query(member, saved)
        fields["query"] = saved.sql
        fields["saved_query_version"] = saved.version
        fields.setdefault("name", saved.name[:200])
    source = fields.get("data_source")
    if source is not None:
        fields["data_source"] = _data_source(member, source)
    elif saved is not None and saved.data_source is not None:
        fields["data_source"] = _check_data_source(member, saved.data_source)
    else:
        # Recorded explicitly, so the command says where it ran.
        fields["data_source"] = DataSource.objects.default_for(member.account)
    try:
        if saved is not None:
            fields["parameters"] = bind_to_schema(saved.parameters, fields.get("parameters"))
        else:
            fields["parameters"] = check_values(_with_macros(fields), fields.get("parameters"))
    except ParameterError as exc:
        raise InvalidDefinition("Invalid parameters.", field="parameters",
                                errors=exc.errors) from exc


def _saved_query(member, ref):
    """The saved query ``ref`` names: itself, an id, or a name (a string of digits is an
    id), as ``member`` may read it."""
    if isinstance(ref, SavedQuery):
        saved = ref
    else:
        visible = policy.restrict(SavedQuery.objects.select_related("data_source"), member,
                                  "read", "saved_queries")
        pk = ref if isinstance(ref, int) else reads.parse_pk(ref)
        saved = (visible.filter(pk=pk) if pk is not None else visible.filter(name=ref)).first()
    if saved is None:
        raise InvalidDefinition(f"No saved query {ref!r} in your account.",
                                field="saved_query")
    return _check_saved_query(member, saved)


def _check_saved_query(member, saved):
    if not policy.can(member, "read", "saved_queries", obj=saved):
        raise InvalidDefinition(f"No saved query {saved.pk} in your account.",
                                field="saved_query")
    require(member, "run", "saved_queries", obj=saved,
            message="Your role may not run this saved query.")
    return saved


def _data_source(member, ref):
    """A data source the member may read, by object, id or name."""
    if isinstance(ref, DataSource):
        return _check_data_source(member, ref)
    source = reads.data_source(member, ref)
    if source is None:
        raise InvalidDefinition(f"No data source {ref!r} in your account.", field="data_source")
    return source


def _check_data_source(member, source):
    if not policy.can(member, "read", "data_sources", obj=source):
        raise InvalidDefinition(f"No data source {source.pk!r} in your account.",
                                field="data_source")
    return source


# -- macros -----------------------------------------------------------------------------------


def _body_field(fields):
    return "query" if fields["command_type"] == CommandType.SQL else "script"


def _with_macros(fields):
    """The body with ``$name$`` replaced by the macros' values (unknown names stay)."""
    macros = fields.get("macros") or {}
    text = fields[_body_field(fields)]
    if not macros:
        return text
    return MACRO_RE.sub(lambda m: macros.get(m.group(1), m.group(0)), text)


def _resolve_macros(fields):
    macros = fields.get("macros") or {}
    if not macros:
        return
    body = _body_field(fields)
    used = {name: macros[name] for name in MACRO_RE.findall(fields[body]) if name in macros}
    fields[body] = _with_macros(fields)
    fields["resolved_macros"] = used


# -- idempotency and the write ----------------------------------------------------------------


def _create(member, fields, source, request, audit_action, audit_detail, also=None):
    """Write the command (and run ``also(command)`` in the same transaction: its
    notifications), or answer the one already submitted with its ``submission_id``."""
    existing = _existing(member, fields)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            command = lifecycle.submit(account=member.account, user=member.user, source=source,
                                       **fields)
            if also is not None:
                also(command)
            audit.record(audit_action, member=member, obj=command, request=request,
                         **audit_detail)
    except IntegrityError:  # the same submission_id raced in; answer like a repeat
        existing = _existing(member, fields)
        if existing is None:
            raise
        return existing, False
    return command, True


def _existing(member, fields):
    """The command already submitted with this ``submission_id``, or None if it is new."""
    submission_id = fields.get("submission_id")
    if submission_id is None:
        return None
    command = Command.objects.filter(account_id=member.account_id,
                                     submission_id=submission_id).first()
    if command is None:
        return None
    if not policy.can(member, "read", "commands", obj=command):
        # Someone else's command the caller may not read: say nothing about it.
        raise DuplicateSubmission(
            f"submission_id {submission_id!r} is already used in this account.",
            field="submission_id")
    mine = Command(account=member.account, **{k: v for k, v in fields.items()
                                              if k in DEFINITION_FIELDS})
    mine.timeout = fields.get("timeout", member.account.default_timeout)
    if command.definition_key() != mine.definition_key():
        raise DuplicateSubmission(
            f"submission_id {submission_id!r} is already used by command {command.pk} with "
            "a different definition.", field="submission_id")
    return command
