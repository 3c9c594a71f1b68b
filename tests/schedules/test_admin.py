"""Operators' schedules in the admin: the list (next slot, pause state, last run), the
read-only page with its runs, pause/resume actions (audited), the runs in the command
history."""

from datetime import timedelta

import pytest

from accounts.models import AuditEvent, User
from jobs.models import Command
from jobs.schedules import scheduler
from jobs.schedules.model import Schedule
from tests.schedules.helpers import T0, make_schedule

LIST = "/admin/jobs/schedule/"


@pytest.fixture
def operator(db, client):
    client.force_login(User.objects.create_superuser("ops@portal.test"))
    return client


@pytest.fixture
def ran(member):
    schedule = make_schedule(member, concurrency="allow")
    scheduler.tick(T0 + timedelta(seconds=5))
    return schedule


def test_the_list_shows_the_next_slot_and_the_last_run(operator, ran, member,
                                                       django_assert_max_num_queries):
    for n in range(10):
        make_schedule(member, name=f"more-{n}")
    with django_assert_max_num_queries(12):
        page = operator.get(LIST)
    assert page.status_code == 200
    text = page.content.decode()
    run = Command.objects.get(schedule=ran)
    assert f"#{run.pk} {run.status}" in text and "every-minute" in text


def test_the_page_is_read_only_with_its_runs(operator, ran):
    page = operator.get(f"{LIST}{ran.pk}/change/")
    assert page.status_code == 200
    run = Command.objects.get(schedule=ran)
    text = page.content.decode()
    assert f"/admin/jobs/command/{run.pk}/change/" in text
    assert f"?schedule__id__exact={ran.pk}" in text
    assert 'name="_save"' not in text


def test_the_command_history_filters_a_schedules_runs(operator, ran, member):
    other = make_schedule(member, name="other", concurrency="allow")
    scheduler.tick(T0 + timedelta(seconds=5))
    page = operator.get("/admin/jobs/command/", {"schedule__id__exact": ran.pk})
    assert [c.pk for c in page.context["cl"].result_list] == [
        Command.objects.get(schedule=ran).pk]
    assert other.pk != ran.pk


def test_pause_and_resume_actions_are_audited(operator, ran):
    operator.post(LIST, {"action": "pause_schedules", "_selected_action": [ran.pk]})
    assert Schedule.objects.get(pk=ran.pk).paused
    operator.post(LIST, {"action": "resume_schedules", "_selected_action": [ran.pk]})
    resumed = Schedule.objects.get(pk=ran.pk)
    assert not resumed.paused and resumed.next_run_at > T0 + timedelta(minutes=1)
    assert list(AuditEvent.objects.filter(action__startswith="schedules.p").values_list(
        "action", "actor__email")) == [("schedules.pause", "ops@portal.test")]
    assert AuditEvent.objects.filter(action="schedules.resume",
                                     actor__email="ops@portal.test").exists()


def test_schedules_cannot_be_added_in_the_admin(operator):
    assert operator.get(f"{LIST}add/").status_code == 403
