"""The changes every surface makes to schedules (API, pages, admin): create, update, pause,
resume. Each checks what needs the database and the member's rights, computes the next slot,
writes only the fields it changes under the row's lock (so a concurrent tick's
``next_run_at`` and ``last_sequence_id`` are never overwritten) and records an audit event.
Field types and shapes are a serializer's or form's job; these raise :class:`ScheduleError`
(400 naming the field) or :class:`jobs.submission.NotAllowed` (403), never HTTP.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import audit
from jobs import submission
from jobs.models import CommandType
from jobs.parameters import ParameterError, bind_to_schema, check_values
from jobs.schedules import slots
from jobs.schedules.definition import BadTemplate, check_template, run_definition
from jobs.schedules.model import Schedule

# What a member may set; the rest (next run, sequence, last run) is the scheduler's.
EDITABLE = ("name", "description", "cron", "timezone", "command", "saved_query", "parameters",
            "start_at", "end_at", "concurrency", "catch_up", "paused")
# Changing any of these moves the next slot.
TIMING = ("cron", "timezone", "start_at", "end_at")


class ScheduleError(Exception):
    """A schedule field that cannot be used: ``errors`` is ``{field: [messages]}``."""

    def __init__(self, errors):
        super().__init__(str(errors))
        self.errors = errors


def first_slot(schedule, now=None):
    """The next slot from ``now`` (or from ``start_at``, if later), None past ``end_at``."""
    now = now or timezone.now()
    start = max(now, schedule.start_at) if schedule.start_at else now
    return slots.next_slot(schedule.cron, schedule.timezone, start,
                           inclusive=start != now, end=schedule.end_at)


def next_runs(schedule, count=5):
    """The nominal times of the next ``count`` slots, from the pending one (a paused schedule:
    from now, as resuming would)."""
    first = first_slot(schedule) if schedule.paused else schedule.next_run_at
    if first is None:
        return []
    rest = slots.upcoming(schedule.cron, schedule.timezone, first, count - 1,
                          end=schedule.end_at) if count > 1 else []
    return [first, *rest]


def _check(member, schedule):
    """Field rules that need more than one field, the database or the member's rights."""
    try:
        schedule.cron = slots.check_cron(schedule.cron)
        slots.zone(schedule.timezone)
    except slots.BadSchedule as exc:
        raise ScheduleError({exc.field: [exc.message]}) from exc
    if schedule.start_at and schedule.end_at and schedule.end_at <= schedule.start_at:
        raise ScheduleError({"end_at": ["After start_at."]})
    if schedule.saved_query_id is not None and schedule.command:
        raise ScheduleError({"command": ["Either a command or a saved_query, not both."]})
    if schedule.saved_query_id is None and not schedule.command:
        raise ScheduleError({"command": ["A command (the body of POST /api/v1/commands/) or "
                                         "a saved_query."]})
    if schedule.saved_query_id is None and schedule.parameters:
        raise ScheduleError({"parameters": ["Only with a saved_query; a command's parameters "
                                            "go inside command."]})
    if schedule.saved_query_id is not None:
        try:
            submission.require(member, "submit", "commands", command_type=CommandType.SQL,
                               message="Your role may not submit sql commands.")
            _check_saved_query(member, schedule.saved_query)
        except submission.InvalidDefinition as exc:
            raise ScheduleError({exc.field: [exc.message]}) from exc
        _check_parameters(schedule, "parameters")
        return
    try:
        fields = check_template(schedule.command)
    except BadTemplate as exc:
        raise ScheduleError({"command": _prefixed(exc.errors)}) from exc
    kind = fields["command_type"]
    submission.require(member, "submit", "commands", command_type=kind,
                       message=f"Your role may not submit {kind} commands.")
    if kind == CommandType.SQL and not fields.get("saved_query"):
        _check_parameters(schedule, "command")


def _check_parameters(schedule, field):
    """The parameter values a run would bind, checked now with a sample slot's macros (so
    ``{"day": "$nominal_date$"}`` is checked as a date), rather than failing at every run."""
    tz = slots.zone(schedule.timezone)
    fields = run_definition(schedule, timezone.now().replace(second=0, microsecond=0), 1, tz)
    try:
        if field == "parameters":
            bind_to_schema(schedule.saved_query.parameters, fields.get("parameters"))
        else:
            query = fields.get("query") or ""
            for name, value in fields["macros"].items():
                query = query.replace(f"${name}$", value)
            check_values(query, fields.get("parameters"))
    except ParameterError as exc:
        raise ScheduleError({field: [f"{name}: {message}" if field == "parameters" else
                                     f"parameters: {name}: {message}"
                                     for name, message in exc.errors.items()]}) from exc


def _check_saved_query(member, saved):
    # The same checks a run makes (read and run the saved query), so a schedule that could
    # never run is refused now.
    if not submission.policy.can(member, "read", "saved_queries", obj=saved):
        raise submission.InvalidDefinition(f"No saved query {saved.pk} in your account.",
                                           field="saved_query")
    submission.require(member, "run", "saved_queries", obj=saved,
                       message="Your role may not run this saved query.")


def _prefixed(errors):
    """``{"script": ["Required."]}`` -> ``["script: Required."]`` (under ``command``)."""
    if not isinstance(errors, dict):
        return [str(errors)]
    return [f"{name}: {message}" for name, messages in errors.items()
            for message in (messages if isinstance(messages, list) else [messages])]


def _name_taken(schedule):
    return Schedule.objects.filter(account_id=schedule.account_id,
                                   name=schedule.name).exclude(pk=schedule.pk).exists()


def create(member, *, request=None, **values):
    """A new schedule of the member's account, owned (and run) by the member."""
    schedule = Schedule(account=member.account, created_by=member.user,
                        **{k: v for k, v in values.items() if k in EDITABLE})
    _check(member, schedule)
    if _name_taken(schedule):
        raise ScheduleError({"name": [f"A schedule named {schedule.name!r} exists."]})
    schedule.next_run_at = first_slot(schedule)
    try:
        with transaction.atomic():
            schedule.save()
            audit.record("schedules.create", member=member, obj=schedule, request=request)
    except IntegrityError as exc:  # the same name raced in
        raise ScheduleError({"name": [f"A schedule named {schedule.name!r} exists."]}) from exc
    return schedule


def update(member, schedule, *, request=None, **changes):
    """Change the given fields; a change of timing (or a resume) restarts from the next slot
    after now, and a pause keeps the pending slot."""
    changes = {k: v for k, v in changes.items() if k in EDITABLE}
    with transaction.atomic():
        locked = (Schedule.objects.select_for_update(of=("self",))
                  .select_related("saved_query").get(pk=schedule.pk))
        changed = [name for name, value in changes.items() if getattr(locked, name) != value]
        if changes.get("command"):
            changes.setdefault("saved_query", None)
            changes.setdefault("parameters", {})
        if changes.get("saved_query") is not None:
            changes.setdefault("command", {})
        for name, value in changes.items():
            setattr(locked, name, value)
        if not changed:
            return locked
        _check(member, locked)
        if "name" in changed and _name_taken(locked):
            raise ScheduleError({"name": [f"A schedule named {locked.name!r} exists."]})
        fields = [*changes, "updated_at"]
        if set(changed) & {*TIMING, "paused"} and not locked.paused:
            locked.next_run_at = first_slot(locked)
            fields.append("next_run_at")
        try:
            with transaction.atomic():
                locked.save(update_fields=fields)
        except IntegrityError as exc:
            raise ScheduleError({"name": [f"A schedule named {locked.name!r} exists."]}) from exc
        action = {(("paused",), True): "schedules.pause",
                  (("paused",), False): "schedules.resume"}.get(
            (tuple(changed), locked.paused), "schedules.update")
        audit.record(action, member=member, obj=locked, request=request,
                     **({"fields": sorted(changed)} if action == "schedules.update" else {}))
    return locked


def pause(member, schedule, *, request=None):
    return update(member, schedule, request=request, paused=True)


def resume(member, schedule, *, request=None):
    return update(member, schedule, request=request, paused=False)


def delete(member, schedule, *, request=None):
    """Remove the schedule; its runs stay, as ordinary commands (``schedule`` set to null),
    and go with the retention of commands."""
    with transaction.atomic():
        audit.record("schedules.delete", member=member, obj=schedule, request=request,
                     name=schedule.name)
        schedule.delete()


def set_paused_by_operator(schedule, paused, actor, request=None):
    """Pause or resume as an operator (the admin), who need not be a member of the account;
    the same lock and next-slot rule as :func:`update`. Returns True if it changed."""
    with transaction.atomic():
        locked = Schedule.objects.select_for_update().get(pk=schedule.pk)
        if locked.paused == paused:
            return False
        locked.paused = paused
        fields = ["paused", "updated_at"]
        if not paused:
            locked.next_run_at = first_slot(locked)
            fields.append("next_run_at")
        locked.save(update_fields=fields)
        audit.record("schedules.pause" if paused else "schedules.resume", actor=actor,
                     account=locked.account, obj=locked, request=request, via="admin")
    return True
