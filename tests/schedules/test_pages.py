"""The schedules' HTML pages: list, a schedule with its next runs and history, a new one from
the form (checked by the same service as the API), pause/resume where the role allows; other
accounts' schedules are 404."""

from datetime import timedelta

import pytest

from accounts.models import AuditEvent
from jobs.models import Command
from jobs.schedules import scheduler
from jobs.schedules.model import Schedule
from tests.pages.helpers import browser
from tests.schedules.helpers import T0, make_schedule


@pytest.fixture
def ran(admin):
    schedule = make_schedule(admin, name="admins", concurrency="allow")
    scheduler.tick(T0 + timedelta(seconds=5))
    return schedule


def test_the_list_shows_each_schedule_with_its_last_run(member, ran,
                                                        django_assert_max_num_queries):
    client = browser(member)
    client.get("/schedules/")
    with django_assert_max_num_queries(8):  # session, user, membership, policies, the list
        page = client.get("/schedules/")
    text = page.content.decode()
    run = Command.objects.get(schedule=ran)
    assert page.status_code == 200 and "admins" in text and f"#{run.pk}" in text
    assert "New schedule" in text


def test_a_schedule_page_shows_next_runs_and_its_history(member, ran):
    text = browser(member).get(f"/schedules/{ran.pk}/").content.decode()
    run = Command.objects.get(schedule=ran)
    assert f"/commands/{run.pk}/" in text and "2026-12-02 10:00 UTC" in text
    assert "Next runs" in text and text.count("<li>") >= 10
    assert "Pause</button>" not in text  # the admin's schedule: a member may not pause it


def test_the_owner_pauses_and_resumes_from_the_page(admin, ran):
    client = browser(admin)
    assert "Pause</button>" in client.get(f"/schedules/{ran.pk}/").content.decode()
    assert client.post(f"/schedules/{ran.pk}/pause/").status_code == 302
    assert Schedule.objects.get(pk=ran.pk).paused
    assert "Resume</button>" in client.get(f"/schedules/{ran.pk}/").content.decode()
    client.post(f"/schedules/{ran.pk}/resume/")
    assert not Schedule.objects.get(pk=ran.pk).paused
    assert AuditEvent.objects.filter(action="schedules.pause").count() == 1


def test_a_member_may_not_pause_someone_elses_schedule(member, ran):
    assert browser(member).post(f"/schedules/{ran.pk}/pause/").status_code == 403
    assert not Schedule.objects.get(pk=ran.pk).paused


def test_another_accounts_schedule_is_404(outsider, ran):
    client = browser(outsider)
    assert client.get(f"/schedules/{ran.pk}/").status_code == 404
    assert client.post(f"/schedules/{ran.pk}/pause/").status_code == 404
    assert "admins" not in client.get("/schedules/").content.decode()


def test_a_new_schedule_is_checked_like_the_api_and_created(member):
    client = browser(member)
    bad = client.post("/schedules/", {"name": "n", "cron": "often", "timezone": "UTC",
                                      "command_type": "shell", "body": "true",
                                      "concurrency": "skip", "catch_up": "last"})
    assert bad.status_code == 400 and "Not a five-field cron expression" in bad.content.decode()
    assert not Schedule.objects.exists()
    response = client.post("/schedules/", {
        "name": "nightly", "cron": "0 2 * * *", "timezone": "Europe/Berlin",
        "command_type": "shell", "body": "echo $nominal_date$", "concurrency": "queue",
        "catch_up": "all"})
    schedule = Schedule.objects.get()
    assert response["Location"] == f"/schedules/{schedule.pk}/"
    assert schedule.command == {"command_type": "shell", "script": "echo $nominal_date$"}
    assert (schedule.created_by, schedule.concurrency) == (member.user, "queue")


def test_a_reader_sees_schedules_but_may_not_create_one(reader, ran):
    client = browser(reader)
    page = client.get("/schedules/")
    assert page.status_code == 200 and b"admins" in page.content
    assert b"New schedule" not in page.content
    assert client.post("/schedules/", {"name": "x"}).status_code == 403


def test_a_role_without_schedules_is_refused(member, ran):
    from accounts.models import Policy
    role = member.membership.groups.get().roles.get()
    Policy.objects.create(role=role, resource="schedules", actions=["read"], access="deny")
    assert browser(member).get("/schedules/").status_code == 403
    assert browser(member).get(f"/schedules/{ran.pk}/").status_code == 404
