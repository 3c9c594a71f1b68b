"""Cron and time zones: which instants a schedule's slots are (croniter, zoneinfo).

Slots are computed in the schedule's own time zone and stored in UTC. Around daylight saving
changes (croniter's behaviour, kept): a local time that does not exist that day (spring
forward) runs at the first valid minute after it; a local time that happens twice (fall back)
runs once, at its first occurrence, unless the hour field is ``*`` (hourly and finer
expressions run on every real hour, so none is lost or doubled).
"""

import functools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

from croniter import CroniterBadDateError, croniter

# Enough for a minutely schedule to look a week ahead: a bound on the loop, not a limit users
# meet (an expression that never matches, such as 30 February, stops here).
MAX_STEPS = 20_000


class BadSchedule(ValueError):
    """A cron expression or time zone that cannot be used (``field`` names which)."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


def check_cron(expression):
    """``expression`` if croniter reads it as five fields (or an @alias), else BadSchedule."""
    if not isinstance(expression, str) or not expression.strip():
        raise BadSchedule("cron", "A cron expression such as '*/15 * * * *'.")
    expression = " ".join(expression.split())
    fields = expression.split(" ")
    if not (expression.startswith("@") or len(fields) == 5) or not croniter.is_valid(expression):
        raise BadSchedule("cron", f"Not a five-field cron expression: {expression!r} "
                          "(minute hour day-of-month month day-of-week, or @hourly, @daily…).")
    if expression.startswith("@") and expression not in (
            "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"):
        raise BadSchedule("cron", f"Unknown alias {expression!r}.")
    try:
        croniter(expression, datetime.now(UTC)).get_next(datetime)
    except CroniterBadDateError as exc:
        raise BadSchedule("cron", f"{expression!r} matches no date (such as 31 February)."
                          ) from exc
    return expression


@functools.cache
def _known_zones():
    return frozenset(available_timezones())


def zone(name):
    """The ``ZoneInfo`` of an IANA name, else BadSchedule naming ``timezone``. Only names of
    the time zone database: ZoneInfo itself would also open other files and directories of
    its search path (and fail in ways of its own)."""
    if not isinstance(name, str) or name not in _known_zones():
        raise BadSchedule("timezone", f"Not an IANA time zone: {name!r} (such as UTC or "
                          "Europe/Berlin).")
    return ZoneInfo(name)


def _hour_is_wildcard(expression):
    if expression.startswith("@"):
        return expression == "@hourly"
    return expression.split(" ")[1] == "*"


def _repeated_wall_time(local):
    """The second occurrence of an ambiguous local time (the hour that fall-back repeats)."""
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


def slots_after(expression, tz_name, after, *, inclusive=False):
    """The slots (aware UTC datetimes) after ``after`` (or from it, when ``inclusive``), in
    order, lazily, at most MAX_STEPS of them."""
    tz = zone(tz_name)
    start = after.astimezone(tz)
    if inclusive:
        start -= timedelta(seconds=1)
    wildcard_hour = _hour_is_wildcard(expression)
    steps = croniter(expression, start)
    for _ in range(MAX_STEPS):
        try:
            local = steps.get_next(datetime)
        except CroniterBadDateError:
            return  # no further date matches (croniter looks some years ahead)
        if not wildcard_hour and _repeated_wall_time(local):
            continue
        yield local.astimezone(UTC)


def next_slot(expression, tz_name, after, *, inclusive=False, end=None):
    """The first slot after ``after`` (from it, when ``inclusive``), or None past ``end``."""
    for slot in slots_after(expression, tz_name, after, inclusive=inclusive):
        return None if end is not None and slot > end else slot
    return None


def latest_slot(expression, tz_name, now, not_before):
    """The latest slot at or before ``now`` that is not before ``not_before``, or None."""
    tz = zone(tz_name)
    # Slots fall on whole minutes: the latest one below the next whole second is <= now.
    ceiling = now.replace(microsecond=0) + timedelta(seconds=1)
    steps = croniter(expression, ceiling.astimezone(tz))
    wildcard_hour = _hour_is_wildcard(expression)
    for _ in range(MAX_STEPS):
        try:
            local = steps.get_prev(datetime)
        except CroniterBadDateError:
            return None
        slot = local.astimezone(UTC)
        if slot < not_before:
            return None
        if wildcard_hour or not _repeated_wall_time(local):
            return slot
    return None


def upcoming(expression, tz_name, after, count, end=None):
    """The next ``count`` slots after ``after`` (fewer when ``end`` comes first)."""
    found = []
    for slot in slots_after(expression, tz_name, after):
        if end is not None and slot > end:
            break
        found.append(slot)
        if len(found) >= count:
            break
    return found
