"""Exactly once per slot: worker processes (real ones, started together) racing through the
same due slots with the same clock make each slot's run once."""

import json
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Command, Status
from jobs.schedules.model import Schedule
from tests.jobs.conftest import wait_for
from tests.schedules.helpers import MINUTE, T0, make_schedule, runs, slots

pytestmark = pytest.mark.slow
SECONDS = timedelta(seconds=5)

TICKER = """
import json, os, sys, time
from datetime import datetime
import django
django.setup()
from jobs.schedules import scheduler
go, now = sys.argv[1], datetime.fromisoformat(sys.argv[2])
while not os.path.exists(go):
    time.sleep(0.002)
made = [run for outcome in scheduler.tick(now) for run in outcome.runs]
print(json.dumps(made))
"""


def race(worker_env, tmp_path, now, processes=2):
    """Start ``processes`` tickers, let them go at once, return the runs each one made."""
    go = tmp_path / f"go-{now.timestamp()}"
    env = {**worker_env, "DJANGO_SETTINGS_MODULE": "jobportal.settings"}
    tickers = [subprocess.Popen([sys.executable, "-c", TICKER, str(go), now.isoformat()],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(processes)]
    time.sleep(2)  # both are set up and waiting on the start file (not a timing assertion)
    go.touch()
    made = []
    for ticker in tickers:
        out, err = ticker.communicate(timeout=120)
        assert ticker.returncode == 0, err
        made.append(json.loads(out.strip().splitlines()[-1]))
    return made


def test_two_workers_racing_through_the_same_slots_make_each_run_once(
        transactional_db, member, worker_env, tmp_path):
    schedules = [make_schedule(member, name=f"race-{n}", concurrency="allow", catch_up="all")
                 for n in range(6)]
    first = race(worker_env, tmp_path, T0 + 4 * MINUTE + SECONDS)  # slots T0 .. T0 + 4 min
    second = race(worker_env, tmp_path, T0 + 6 * MINUTE + SECONDS)  # then T0 + 5, T0 + 6 min
    made = [run for each in (*first, *second) for run in each]
    assert len(made) == len(set(made)) == 6 * 7
    for schedule in schedules:
        assert runs(schedule) == list(zip(range(1, 8), slots(T0, 7), strict=True))
        assert Schedule.objects.get(pk=schedule.pk).next_run_at == T0 + 7 * MINUTE
    assert Command.objects.count() == 6 * 7


def test_the_worker_processes_tick_the_schedules_and_run_what_they_make(
        member, start_worker, tmp_path):
    """No daemon of its own: ``manage.py worker`` (what ``serve`` and ``make run`` start)
    makes the due run in its reaper pass and runs it like any command."""
    # T0 is long past: the latest slot before the end runs, and no later one.
    schedule = make_schedule(member, pending=T0, script="echo run $sequence_id$",
                             catch_up="last", end_at=timezone.now())
    start_worker()
    start_worker()
    run = wait_for(lambda: Command.objects.filter(schedule=schedule,
                                                  status__in=Status.TERMINAL).first(),
                   timeout=60, message="the schedule's run to finish")
    assert (run.sequence_id, run.status, run.script) == (1, Status.DONE, "echo run 1")
    assert run.nominal_time > T0
    assert Command.objects.filter(schedule=schedule).count() == 1
    assert Schedule.objects.get(pk=schedule.pk).next_run_at is None
