"""Schedules made through the service, their pending slot set to a fixed instant, so every
test drives the clock by the ``now`` it passes to the tick."""

from datetime import UTC, datetime, timedelta

from jobs.models import Command
from jobs.schedules import service
from jobs.schedules.model import Schedule

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def make_schedule(actor, *, pending=T0, script="echo $nominal_time$ $sequence_id$",
                  **values):
    values.setdefault("name", "every-minute")
    values.setdefault("cron", "* * * * *")
    if "saved_query" not in values:
        values.setdefault("command", {"command_type": "shell", "script": script})
    schedule = service.create(actor.membership, **values)
    if pending is not None:
        Schedule.objects.filter(pk=schedule.pk).update(next_run_at=pending)
        schedule.refresh_from_db()
    return schedule


def runs(schedule):
    """``[(sequence_id, nominal_time)]`` of the schedule's runs, in order."""
    return list(Command.objects.filter(schedule=schedule).order_by("sequence_id")
                .values_list("sequence_id", "nominal_time"))


def slots(first, count):
    return [first + n * MINUTE for n in range(count)]
