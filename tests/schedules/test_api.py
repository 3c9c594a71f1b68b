"""The schedules API: create (a command template or a saved query), list, detail, change,
pause and resume, next runs; bad input is a 400 naming the field with nothing written;
access for all four actors; query counts; runs shown and filtered through the commands API."""

from datetime import timedelta

import pytest

from accounts.models import AuditEvent
from jobs.models import Command, SavedQuery
from jobs.schedules import scheduler
from jobs.schedules.model import Schedule
from tests.schedules.helpers import T0, make_schedule

URL = "/api/v1/schedules/"
SHELL = {"command_type": "shell", "script": "echo $nominal_time$"}


def create(actor, **body):
    body.setdefault("name", "nightly")
    body.setdefault("cron", "0 2 * * *")
    if "saved_query" not in body:
        body.setdefault("command", SHELL)
    return actor.client.post(URL, body, format="json")


def test_a_schedule_is_created_with_its_next_runs_in_its_time_zone(member):
    response = create(member, timezone="Europe/Berlin", concurrency="queue", catch_up="all")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["created_by"] == "member@acme.test" and body["paused"] is False
    assert (body["concurrency"], body["catch_up"], body["timezone"]) == (
        "queue", "all", "Europe/Berlin")
    assert body["command"] == SHELL and body["last_sequence_id"] == 0
    assert len(body["next_runs"]) == 5 and body["next_runs"][0] == body["next_run_at"]
    # 02:00 in Berlin in December is 01:00 UTC.
    assert all(t.endswith("T01:00:00Z") for t in body["next_runs"])
    event = AuditEvent.objects.get(action="schedules.create")
    assert event.object_id == str(body["id"])


def test_a_schedule_over_a_saved_query_runs_it_with_its_parameters(member):
    saved = SavedQuery.objects.create(
        account=member.account, name="by_day", sql="SELECT :day AS day",
        parameters=[{"name": "day", "type": "date"}], created_by=member.user)
    response = create(member, saved_query="by_day", parameters={"day": "$nominal_date$"},
                      cron="0 10 * * *", concurrency="allow")
    assert response.status_code == 201, response.json()
    assert response.json()["saved_query"] == saved.pk
    Schedule.objects.filter(pk=response.json()["id"]).update(next_run_at=T0)
    scheduler.tick(T0 + timedelta(seconds=5))
    run = Command.objects.get(schedule_id=response.json()["id"])
    assert (run.saved_query, run.command_type, run.parameters) == (
        saved, "sql", {"day": "2026-12-02"})


@pytest.mark.parametrize(("body", "field"), [
    ({"cron": "every day"}, "cron"),
    ({"cron": "61 * * * *"}, "cron"),
    ({"cron": 5}, "cron"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"command": {"command_type": "shell"}}, "command"),
    ({"command": {"command_type": "shell", "script": "x", "submission_id": "a"}}, "command"),
    ({"command": {"command_type": "perl", "script": "x"}}, "command"),
    ({"command": "echo hi"}, "command"),
    ({"command": None}, "command"),
    ({"saved_query": "nope", "command": {}}, "saved_query"),
    ({"parameters": {"a": 1}}, "parameters"),
    ({"concurrency": "sometimes"}, "concurrency"),
    ({"catch_up": "some"}, "catch_up"),
    ({"start_at": "2027-01-02T00:00:00Z", "end_at": "2027-01-01T00:00:00Z"}, "end_at"),
    ({"name": ""}, "name"),
    ({"start_at": "tomorrow"}, "start_at"),
])
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(member, body, field):
    response = create(member, **body)
    assert response.status_code == 400, response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"]
    assert not Schedule.objects.exists() and not AuditEvent.objects.exists()


def test_parameters_a_run_could_not_bind_are_a_400_now(member):
    SavedQuery.objects.create(account=member.account, name="by_day", sql="SELECT :day",
                              parameters=[{"name": "day", "type": "date"}])
    wrong = create(member, saved_query="by_day", parameters={"day": "soon"})
    assert wrong.status_code == 400 and list(wrong.json()["errors"]) == ["parameters"]
    unknown = create(member, saved_query="by_day", parameters={"dya": "$nominal_date$"})
    assert unknown.status_code == 400 and "dya" in unknown.json()["errors"]["parameters"][0]
    missing = create(member, command={"command_type": "sql", "query": "SELECT :n"})
    assert missing.status_code == 400 and list(missing.json()["errors"]) == ["command"]
    assert not Schedule.objects.exists()
    ok = create(member, saved_query="by_day", parameters={"day": "$nominal_date$"})
    assert ok.status_code == 201, ok.json()


def test_a_name_in_use_is_a_400_naming_it(member):
    assert create(member).status_code == 201
    response = create(member)
    assert response.status_code == 400 and list(response.json()["errors"]) == ["name"]
    assert Schedule.objects.count() == 1


def test_a_member_who_may_not_submit_the_type_may_not_schedule_it(member):
    from accounts.models import Policy
    role = member.membership.groups.get().roles.get()
    Policy.objects.create(role=role, resource="commands", actions=["submit"], access="deny",
                          conditions={"command_types": ["shell"]})
    response = create(member)
    assert response.status_code == 403
    assert not Schedule.objects.exists()


def test_pause_and_resume_are_audited_and_resume_starts_from_the_next_slot(member):
    schedule = create(member, cron="* * * * *").json()
    url = f"{URL}{schedule['id']}/"
    Schedule.objects.filter(pk=schedule["id"]).update(next_run_at=T0)  # long past
    paused = member.client.post(f"{url}pause/").json()
    assert paused["paused"] is True and paused["next_run_at"] == "2026-12-02T10:00:00Z"
    resumed = member.client.post(f"{url}resume/").json()
    assert resumed["paused"] is False and resumed["next_run_at"] > "2026-12-02T10:00:00Z"
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "schedules.create", "schedules.pause", "schedules.resume"]


def test_a_change_of_cron_moves_the_next_slot_and_is_audited(member):
    schedule = create(member).json()
    response = member.client.patch(f"{URL}{schedule['id']}/", {"cron": "30 3 * * *"},
                                   format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["next_run_at"].endswith("T03:30:00Z")
    event = AuditEvent.objects.get(action="schedules.update")
    assert event.detail == {"fields": ["cron"]}


def test_a_bad_change_is_a_400_and_changes_nothing(member):
    schedule = create(member).json()
    response = member.client.patch(f"{URL}{schedule['id']}/", {
        "cron": "* * * * *", "timezone": "Nowhere/Land"}, format="json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["timezone"]
    stored = Schedule.objects.get(pk=schedule["id"])
    assert (stored.cron, stored.timezone) == ("0 2 * * *", "UTC")


def test_a_change_never_rewinds_what_the_scheduler_counted(member):
    made = make_schedule(member, concurrency="allow")
    scheduler.tick(T0 + timedelta(seconds=5))
    member.client.patch(f"{URL}{made.pk}/", {"description": "x"}, format="json")
    assert Schedule.objects.get(pk=made.pk).last_sequence_id == 1


def test_next_runs_answers_the_next_n_slots(member):
    schedule = create(member, cron="*/15 * * * *").json()
    body = member.client.get(f"{URL}{schedule['id']}/next-runs/?count=8").json()
    assert len(body["next_runs"]) == 8
    assert member.client.get(f"{URL}{schedule['id']}/next-runs/?count=0").status_code == 400


def test_runs_show_their_schedule_and_are_listed_by_it(member):
    made = make_schedule(member, concurrency="allow")
    other = make_schedule(member, name="other", concurrency="allow")
    scheduler.tick(T0 + timedelta(seconds=5))
    runs = member.client.get(f"/api/v1/commands/?schedule={made.pk}").json()["results"]
    assert [(r["schedule"], r["sequence_id"], r["nominal_time"]) for r in runs] == [
        (made.pk, 1, "2026-12-02T10:00:00Z")]
    detail = member.client.get(f"/api/v1/commands/{runs[0]['id']}/").json()
    assert (detail["schedule"], detail["sequence_id"]) == (made.pk, 1)
    assert other.pk != made.pk
    for bad in ("x", "1.5", "0", str(2**63)):
        assert member.client.get(f"/api/v1/commands/?schedule={bad}").status_code == 400


def test_the_qubole_shape_shows_the_nominal_time_and_sequence_id(member):
    made = make_schedule(member, concurrency="allow")
    scheduler.tick(T0 + timedelta(seconds=5))
    run = Command.objects.get(schedule=made)
    body = member.client.get(f"/api/v1.2/commands/{run.pk}").json()
    assert (body["nominal_time"], body["sequence_id"]) == ("2026-12-02 10:00:00 UTC", 1)
    assert body["command_source"] == "SCHEDULER"


def test_deleting_a_schedule_keeps_its_runs(admin):
    made = make_schedule(admin, concurrency="allow")
    scheduler.tick(T0 + timedelta(seconds=5))
    assert admin.client.delete(f"{URL}{made.pk}/").status_code == 204
    run = Command.objects.get()
    assert (run.schedule_id, run.sequence_id) == (None, 1)
    assert AuditEvent.objects.filter(action="schedules.delete").exists()


# -- access -----------------------------------------------------------------------------------

ACCESS = {  # list, detail, create, pause, update, delete of the admin's schedule
    "admin": (200, 200, 201, 200, 200, 204),
    "member": (200, 200, 201, 403, 403, 403),
    "reader": (200, 200, 403, 403, 403, 403),
    "outsider": (200, 404, 201, 404, 404, 404),
}


@pytest.mark.parametrize("who", list(ACCESS))
def test_schedule_access(actors, who):
    schedule = make_schedule(actors["admin"], name="admins", pending=None)
    client, url = actors[who].client, f"{URL}{schedule.pk}/"
    listed = client.get(URL)
    statuses = (
        listed.status_code, client.get(url).status_code,
        create(actors[who], name=f"mine-{who}").status_code,
        client.post(f"{url}pause/").status_code,
        client.patch(url, {"description": "x"}, format="json").status_code,
        client.delete(url).status_code,
    )
    assert statuses == ACCESS[who]
    names = {s["name"] for s in listed.json()["results"]}
    assert ("admins" in names) == (who != "outsider")


def test_members_change_pause_and_delete_their_own_schedules(member):
    schedule = create(member).json()
    url = f"{URL}{schedule['id']}/"
    assert member.client.post(f"{url}pause/").status_code == 200
    assert member.client.patch(url, {"cron": "@hourly"}, format="json").status_code == 200
    assert member.client.delete(url).status_code == 204


def test_anonymous_callers_are_refused(anonymous, admin):
    schedule = make_schedule(admin)
    assert anonymous.get(URL).status_code == 401
    assert anonymous.get(f"{URL}{schedule.pk}/").status_code == 401


# -- query counts -----------------------------------------------------------------------------


def test_listing_schedules_takes_one_query(admin, member, warm_process,
                                           django_assert_num_queries):
    for n in range(8):
        made = make_schedule(member if n % 2 else admin, name=f"s{n}", concurrency="allow")
    scheduler.tick(T0 + timedelta(seconds=5))
    warm_process(admin)
    with django_assert_num_queries(1):  # the page, with owners and last runs
        body = admin.client.get(URL).json()
    assert len(body["results"]) == 8
    assert all(s["last_run"]["sequence_id"] == 1 for s in body["results"])
    assert made.pk in {s["id"] for s in body["results"]}


def test_a_schedule_detail_takes_one_query(admin, warm_process, django_assert_num_queries):
    made = make_schedule(admin)
    warm_process(admin)
    with django_assert_num_queries(1):
        body = admin.client.get(f"{URL}{made.pk}/").json()
    assert body["id"] == made.pk and len(body["next_runs"]) == 5
