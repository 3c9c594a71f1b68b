"""Retention of schedule runs: they are pruned as commands, except each schedule's latest run;
run numbers never come back after a prune; a deleted schedule's runs stay as commands and go
by the same retention."""

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from accounts.models import Account
from jobs import lifecycle
from jobs.models import Command
from jobs.schedules import scheduler
from jobs.schedules.model import Schedule
from tests.schedules.helpers import MINUTE, T0, make_schedule, runs

S = timedelta(seconds=1)


def finish_long_ago(days=40):
    for command in Command.objects.filter(finished_at__isnull=True):
        lifecycle.cancel(command)
    Command.objects.update(finished_at=timezone.now() - timedelta(days=days))


def prune():
    call_command("prune", stdout=StringIO())


def test_old_runs_are_pruned_but_the_latest_and_the_numbering_stay(member):
    Account.objects.filter(pk=member.account.pk).update(retention_days=30)
    schedule = make_schedule(member, concurrency="allow", catch_up="all")
    scheduler.tick(T0 + 2 * MINUTE + 5 * S)
    finish_long_ago()
    prune()
    assert runs(schedule) == [(3, T0 + 2 * MINUTE)]
    assert Schedule.objects.get(pk=schedule.pk).last_run_id is not None
    scheduler.tick(T0 + 3 * MINUTE + 5 * S)
    assert runs(schedule) == [(3, T0 + 2 * MINUTE), (4, T0 + 3 * MINUTE)]


def test_a_deleted_schedules_runs_stay_and_go_by_retention(member):
    Account.objects.filter(pk=member.account.pk).update(retention_days=30)
    schedule = make_schedule(member, concurrency="allow")
    scheduler.tick(T0 + 5 * S)
    run = Command.objects.get(schedule=schedule)
    schedule.delete()
    run.refresh_from_db()
    assert (run.schedule_id, run.sequence_id, run.nominal_time) == (None, 1, T0)
    finish_long_ago()
    prune()
    assert not Command.objects.exists()
