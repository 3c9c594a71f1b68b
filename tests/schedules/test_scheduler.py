"""The tick under an injected clock: one run per slot, numbered, with the slot's nominal time
and macros; catch-up after an outage (each policy); the concurrency rule; start and end; an
owner who lost the right to submit."""

from datetime import timedelta

import pytest

from accounts.models import Group
from jobs import lifecycle
from jobs.models import Command, Source, Status
from jobs.schedules import scheduler
from jobs.schedules.model import Schedule
from tests.schedules.helpers import MINUTE, T0, make_schedule, runs, slots

S = timedelta(seconds=1)


def reload(schedule):
    return Schedule.objects.get(pk=schedule.pk)


def test_every_minute_makes_one_run_per_slot_numbered_with_its_nominal_time(member):
    schedule = make_schedule(member, concurrency="allow")
    for now in (T0 + 5 * S, T0 + 20 * S, T0 + 59 * S, T0 + MINUTE + 2 * S, T0 + 2 * MINUTE):
        scheduler.tick(now)
    assert runs(schedule) == list(zip([1, 2, 3], slots(T0, 3), strict=True))
    assert reload(schedule).next_run_at == T0 + 3 * MINUTE
    assert reload(schedule).last_sequence_id == 3


def test_a_run_is_an_ordinary_command_of_the_owner_with_the_slot_macros(member):
    schedule = make_schedule(member, concurrency="allow")
    scheduler.tick(T0 + 5 * S)
    run = Command.objects.get(schedule=schedule)
    assert run.script == "echo 2026-12-02T10:00:00Z 1"
    assert run.resolved_macros == {"nominal_time": "2026-12-02T10:00:00Z", "sequence_id": "1"}
    assert (run.user, run.source, run.name) == (member.user, Source.SCHEDULE, "every-minute")
    assert run.status in Status.ACTIVE and run.timeout == member.account.default_timeout
    assert reload(schedule).last_run == run


def test_a_slot_not_yet_due_makes_nothing(member):
    schedule = make_schedule(member)
    assert scheduler.tick(T0 - S) == []
    assert runs(schedule) == []


def test_a_paused_schedule_makes_nothing(member):
    schedule = make_schedule(member)
    Schedule.objects.filter(pk=schedule.pk).update(paused=True)
    scheduler.tick(T0 + 5 * S)
    assert runs(schedule) == []


# -- catch-up after an outage ----------------------------------------------------------------

OUTAGE_END = T0 + 10 * MINUTE + 5 * S  # no tick from before T0 until now: 11 slots passed


def test_catch_up_all_runs_every_missed_slot_in_order(member):
    schedule = make_schedule(member, concurrency="allow", catch_up="all")
    scheduler.tick(OUTAGE_END)
    assert runs(schedule) == list(zip(range(1, 12), slots(T0, 11), strict=True))
    assert reload(schedule).next_run_at == T0 + 11 * MINUTE


def test_catch_up_all_spreads_a_long_outage_over_ticks(member, settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "SCHEDULE_MAX_RUNS_PER_TICK": 4}
    schedule = make_schedule(member, concurrency="allow", catch_up="all")
    scheduler.tick(OUTAGE_END)
    assert [seq for seq, _ in runs(schedule)] == [1, 2, 3, 4]
    for _ in range(3):
        scheduler.tick(OUTAGE_END)
    assert runs(schedule) == list(zip(range(1, 12), slots(T0, 11), strict=True))


def test_catch_up_last_runs_only_the_latest_missed_slot(member):
    schedule = make_schedule(member, concurrency="allow", catch_up="last")
    scheduler.tick(OUTAGE_END)
    assert runs(schedule) == [(1, T0 + 10 * MINUTE)]
    assert reload(schedule).next_run_at == T0 + 11 * MINUTE


def test_catch_up_none_runs_no_missed_slot(member, settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "SCHEDULE_GRACE_SECONDS": 10}
    schedule = make_schedule(member, concurrency="allow", catch_up="none")
    late = T0 + 10 * MINUTE + 30 * S  # the latest slot is past the grace too
    scheduler.tick(late)
    assert runs(schedule) == []
    assert reload(schedule).next_run_at == T0 + 11 * MINUTE


def test_catch_up_none_still_runs_the_slot_that_is_on_time(member):
    schedule = make_schedule(member, concurrency="allow", catch_up="none")
    scheduler.tick(OUTAGE_END)  # T0 + 10 min is 5 s late, within the grace
    assert runs(schedule) == [(1, T0 + 10 * MINUTE)]


# -- the concurrency rule --------------------------------------------------------------------


def first_run_then_next_slot(member, rule, catch_up="last"):
    schedule = make_schedule(member, concurrency=rule, catch_up=catch_up)
    scheduler.tick(T0 + 5 * S)
    first = Command.objects.get(schedule=schedule)
    assert first.status in Status.ACTIVE
    scheduler.tick(T0 + MINUTE + 5 * S)
    return schedule, first


def test_skip_drops_the_slot_while_the_previous_run_is_active(member):
    schedule, first = first_run_then_next_slot(member, "skip")
    assert runs(schedule) == [(1, T0)]
    assert reload(schedule).next_run_at == T0 + 2 * MINUTE
    lifecycle.cancel(first)
    scheduler.tick(T0 + 2 * MINUTE + 5 * S)
    assert runs(schedule) == [(1, T0), (2, T0 + 2 * MINUTE)]


def test_queue_holds_the_slot_until_the_previous_run_ends_then_runs_it(member):
    schedule, first = first_run_then_next_slot(member, "queue")
    assert runs(schedule) == [(1, T0)]
    assert reload(schedule).next_run_at == T0 + MINUTE  # held
    scheduler.tick(T0 + MINUTE + 30 * S)
    assert runs(schedule) == [(1, T0)]
    lifecycle.cancel(first)
    scheduler.tick(T0 + MINUTE + 40 * S)
    assert runs(schedule) == [(1, T0), (2, T0 + MINUTE)]


def test_queue_runs_the_held_slot_even_when_later_slots_passed(member):
    schedule, first = first_run_then_next_slot(member, "queue", catch_up="last")
    lifecycle.cancel(first)
    scheduler.tick(T0 + 3 * MINUTE + 5 * S)
    # The held slot runs; the latest slot then waits for it (queue again).
    assert runs(schedule) == [(1, T0), (2, T0 + MINUTE)]
    assert reload(schedule).next_run_at == T0 + 3 * MINUTE


def test_cancel_previous_cancels_the_active_run_and_makes_the_new_one(member):
    schedule, first = first_run_then_next_slot(member, "cancel_previous")
    first.refresh_from_db()
    assert first.status == Status.CANCELLED
    assert runs(schedule) == [(1, T0), (2, T0 + MINUTE)]


def test_allow_runs_alongside_the_previous_run(member):
    schedule, first = first_run_then_next_slot(member, "allow")
    first.refresh_from_db()
    assert first.status in Status.ACTIVE
    assert runs(schedule) == [(1, T0), (2, T0 + MINUTE)]


# -- start, end, the owner's rights ----------------------------------------------------------


def test_no_slot_runs_after_the_end(member):
    schedule = make_schedule(member, concurrency="allow", catch_up="all",
                             end_at=T0 + 90 * S)
    Schedule.objects.filter(pk=schedule.pk).update(start_at=None)
    scheduler.tick(T0 + 5 * MINUTE)
    assert runs(schedule) == [(1, T0), (2, T0 + MINUTE)]
    assert reload(schedule).next_run_at is None
    assert scheduler.tick(T0 + 10 * MINUTE) == []


def test_an_owner_who_lost_the_right_to_submit_gets_no_run_and_the_schedule_says_why(member):
    schedule = make_schedule(member, concurrency="allow")
    member.membership.groups.remove(Group.objects.get(account=member.account,
                                                      name="system-user"))
    outcome, = scheduler.tick(T0 + 5 * S)
    assert outcome.runs == [] and "may not submit shell commands" in outcome.error
    schedule = reload(schedule)
    assert runs(schedule) == []
    assert "may not submit shell commands" in schedule.last_error
    assert schedule.last_sequence_id == 0 and schedule.next_run_at == T0 + MINUTE


def test_an_owner_no_longer_a_member_gets_no_run(member):
    schedule = make_schedule(member, concurrency="allow")
    member.membership.is_active = False
    member.membership.save()
    scheduler.tick(T0 + 5 * S)
    assert runs(schedule) == []
    assert "no longer an active member" in reload(schedule).last_error


def test_a_run_refused_by_the_account_limits_leaves_the_slot_passed(member, settings):
    """A template valid when saved but no longer (a label no worker serves any more)."""
    schedule = make_schedule(member, concurrency="allow")
    Schedule.objects.filter(pk=schedule.pk).update(
        command={"command_type": "shell", "script": "true", "label": "gone"})
    settings.JOBPORTAL = {**settings.JOBPORTAL, "LABELS": ["default"]}
    scheduler.tick(T0 + 5 * S)
    assert runs(schedule) == []
    assert "label" in reload(schedule).last_error


@pytest.mark.parametrize("template", [
    {"command_type": "shell", "script": "echo $nominal_date$ > out"},
])
def test_nominal_date_is_the_slot_date_in_the_schedule_zone(member, template):
    schedule = make_schedule(member, command=template, timezone="Pacific/Auckland",
                             concurrency="allow")
    scheduler.tick(T0 + 5 * S)  # 10:00 UTC on 2 December is 23:00 in Auckland (UTC+13)
    assert Command.objects.get(schedule=schedule).script == "echo 2026-12-02 > out"
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=T0 + 60 * MINUTE)
    scheduler.tick(T0 + 60 * MINUTE + 5 * S)  # 00:00 on the 3rd there
    assert Command.objects.filter(schedule=schedule).first().script == "echo 2026-12-03 > out"
