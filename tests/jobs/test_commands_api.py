"""The portal commands API: contract, access for all four actors, validation, paging, logs."""

import pytest

from accounts.models import Policy, Role
from jobs import lifecycle
from jobs.lifecycle import WorkerIdentity
from jobs.logs import LogWriter
from jobs.models import Command, Status
from tests.conftest import make_member
from tests.jobs.factories import read_stream, submit_shell

CONTRACT_FIELDS = {"id", "submission_id", "command_type", "status", "throttled", "progress",
                   "exit_code", "error_type", "error_message", "created_at", "started_at",
                   "finished_at"}


def post(actor, **payload):
    return actor.client.post("/api/v1/commands/", payload, format="json")


def test_submit_answers_201_with_the_command(member):
    response = post(member, command_type="shell", script="echo hi", name="greet",
                    label="default", tags=["a"], timeout=60, metadata={"team": "ml"},
                    runtime_env={"env_vars": {"X": "1"}}, submission_id="job-1")
    assert response.status_code == 201
    body = response.json()
    assert set(body) >= CONTRACT_FIELDS
    assert (body["status"], body["submission_id"], body["user"]) == (
        "queued", "job-1", "member@acme.test")
    assert body["metadata"] == {"team": "ml"} and body["timeout"] == 60


def test_submit_uses_the_accounts_default_timeout(member):
    assert post(member, command_type="shell", script="true").json()["timeout"] == 3600


def test_the_same_submission_id_never_runs_twice(member):
    first = post(member, command_type="shell", script="echo 1", submission_id="same")
    again = post(member, command_type="shell", script="echo 1", submission_id="same")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    different = post(member, command_type="shell", script="echo 2", submission_id="same")
    assert different.status_code == 409
    assert different["Content-Type"] == "application/problem+json"
    assert Command.objects.filter(submission_id="same").count() == 1


def test_submission_ids_are_per_account(member, outsider):
    assert post(member, command_type="shell", script="true", submission_id="x").status_code == 201
    assert post(outsider, command_type="shell", script="true",
                submission_id="x").status_code == 201


def test_macros_resolve_into_the_script(member):
    body = post(member, command_type="shell", script="echo $day$ $other$",
                macros=[{"day": "2026-11-23"}]).json()
    assert body["script"] == "echo 2026-11-23 $other$"
    assert body["resolved_macros"] == {"day": "2026-11-23"}


BAD_SUBMITS = [
    ({"script": "true"}, "command_type"),
    ({"command_type": "cobol", "script": "x"}, "command_type"),
    ({"command_type": "shell"}, "script"),
    ({"command_type": "shell", "script": ""}, "script"),
    ({"command_type": "shell", "script": "true", "query": "select 1"}, "query"),
    ({"command_type": "shell", "script": "true", "timeout": 0}, "timeout"),
    ({"command_type": "shell", "script": "true", "timeout": 10**9}, "timeout"),
    ({"command_type": "shell", "script": "true", "label": "no spaces"}, "label"),
    ({"command_type": "shell", "script": "true", "tags": "x"}, "tags"),
    ({"command_type": "shell", "script": "true", "metadata": {"a": {"b": 1}}}, "metadata"),
    ({"command_type": "shell", "script": "true", "submission_id": "a b"}, "submission_id"),
    ({"command_type": "shell", "script": "true",
      "runtime_env": {"env_vars": {"1BAD": "x"}}}, "runtime_env"),
    ({"command_type": "shell", "script": "true",
      "runtime_env": {"env_vars": {"JOBPORTAL_RUN": "x"}}}, "runtime_env"),
    ({"command_type": "shell", "script": "true",
      "runtime_env": {"working_dir": "/etc"}}, "runtime_env"),
    ({"command_type": "shell", "script": "true", "macros": "nope"}, "macros"),
    # Strings must be strings: DRF would store 123 as "123".
    ({"command_type": "shell", "script": 123}, "script"),
    ({"command_type": "sql", "query": 1}, "query"),
    ({"command_type": "shell", "script": "true", "name": 7}, "name"),
    ({"command_type": "shell", "script": "true", "label": 1.5}, "label"),
    ({"command_type": "shell", "script": "true", "tags": [1]}, "tags"),
    ({"command_type": "shell", "script": "true", "submission_id": 42}, "submission_id"),
    ({"command_type": "shell", "script": "true", "metadata": {"n": 1}}, "metadata"),
    ({"command_type": "shell", "script": "true",
      "runtime_env": {"env_vars": {"N": 1}}}, "runtime_env"),
]


@pytest.mark.parametrize(("payload", "field"), BAD_SUBMITS)
def test_bad_submissions_are_400_naming_the_field_and_write_nothing(member, payload, field):
    response = member.client.post("/api/v1/commands/", payload, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"]
    assert Command.objects.count() == 0


def test_a_role_denied_shell_gets_403_and_nothing_is_written(account):
    role = Role.objects.create(account=account, name="sql-only")
    Policy.objects.create(role=role, resource="commands", actions=["read", "submit"])
    Policy.objects.create(role=role, resource="commands", actions=["submit"], access="deny",
                          conditions={"command_types": ["shell"]})
    analyst = make_member(account, "analyst@acme.test", roles=[role])
    response = post(analyst, command_type="shell", script="rm -rf /")
    assert response.status_code == 403
    assert "shell" in response.json()["detail"]
    assert Command.objects.count() == 0


# --- access: every endpoint against admin, member, reader, outsider ----------------------


@pytest.fixture
def acme_command(admin):
    return submit_shell(admin, "echo acme")


@pytest.mark.parametrize(("who", "status"), [
    ("admin", 201), ("member", 201), ("reader", 403), ("outsider", 201)])
def test_access_submit(actors, who, status):
    assert post(actors[who], command_type="shell", script="true").status_code == status


@pytest.mark.parametrize(("who", "count"), [
    ("admin", 1), ("member", 1), ("reader", 1), ("outsider", 0)])
def test_access_list(actors, acme_command, who, count):
    response = actors[who].client.get("/api/v1/commands/")
    assert response.status_code == 200
    assert len(response.json()["results"]) == count


@pytest.mark.parametrize("path", ["", "logs/", "events/"])
@pytest.mark.parametrize(("who", "status"), [
    ("admin", 200), ("member", 200), ("reader", 200), ("outsider", 404)])
def test_access_read_endpoints(actors, acme_command, path, who, status):
    lifecycle.cancel(acme_command)  # finished, so the event stream ends at once
    url = f"/api/v1/commands/{acme_command.pk}/{path}"
    response = actors[who].client.get(url)
    assert response.status_code == status
    if response.streaming:
        read_stream(response)  # to its end, which gives the stream's slot back


@pytest.mark.parametrize(("who", "status"), [
    ("admin", 200), ("member", 403), ("reader", 403), ("outsider", 404)])
def test_access_cancel_of_someone_elses_command(actors, acme_command, who, status):
    response = actors[who].client.post(f"/api/v1/commands/{acme_command.pk}/cancel/")
    assert response.status_code == status
    expected = Status.CANCELLED if status == 200 else Status.QUEUED
    assert Command.objects.get(pk=acme_command.pk).status == expected


def test_a_member_cancels_their_own_command(member):
    own = submit_shell(member)
    assert member.client.post(f"/api/v1/commands/{own.pk}/cancel/").json()["status"] == "cancelled"


@pytest.mark.parametrize(("who", "status"), [
    ("admin", 201), ("member", 403), ("reader", 403), ("outsider", 404)])
def test_access_rerun_of_someone_elses_command(actors, acme_command, who, status):
    response = actors[who].client.post(f"/api/v1/commands/{acme_command.pk}/rerun/")
    assert response.status_code == status


def test_cancel_of_a_finished_command_is_a_409_problem(member):
    command = submit_shell(member)
    lifecycle.cancel(command)
    response = member.client.post(f"/api/v1/commands/{command.pk}/cancel/")
    assert response.status_code == 409
    assert "cancelled" in response.json()["detail"]


# --- listing -------------------------------------------------------------------------------


def test_filters_by_status_type_label_user_tag_and_search(admin, member):
    a = submit_shell(admin, name="nightly etl", label="etl", tags=["prod"])
    b = submit_shell(member, name="adhoc")
    c = submit_shell(member)
    lifecycle.cancel(c)

    def ids(**params):
        return {row["id"] for row in admin.client.get("/api/v1/commands/", params).json()[
            "results"]}

    assert ids(status="cancelled") == {c.pk}
    assert ids(status=["queued", "cancelled"]) == {a.pk, b.pk, c.pk}
    assert ids(active="true") == {a.pk, b.pk}
    assert ids(label="etl") == {a.pk}
    assert ids(user="MEMBER@acme.test") == {b.pk, c.pk}
    assert ids(tag="prod") == {a.pk}
    assert ids(search="etl") == {a.pk}
    assert ids(search=b.submission_id) == {b.pk}
    assert ids(command_type="sql") == set()
    assert ids(created_after="2000-01-01T00:00:00Z") == {a.pk, b.pk, c.pk}
    assert ids(created_before="2000-01-01T00:00:00Z") == set()


def test_a_bad_filter_value_is_a_400_naming_it(admin):
    response = admin.client.get("/api/v1/commands/", {"status": "sleeping"})
    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_cursor_pagination_walks_newest_first_without_gaps(admin):
    made = [submit_shell(admin).pk for _ in range(7)]
    seen, url = [], "/api/v1/commands/?page_size=3"
    while url:
        page = admin.client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == sorted(made, reverse=True)


def test_the_list_of_fifty_is_one_query_on_a_warm_process(admin, warm_process,
                                                            django_assert_num_queries):
    for _ in range(60):
        submit_shell(admin)
    warm_process(admin)
    with django_assert_num_queries(1):  # one page (51 rows: is there a next?) with submitters
        body = admin.client.get("/api/v1/commands/").json()
    assert len(body["results"]) == 50 and body["next"]


def test_the_detail_is_one_query_or_two_for_a_command_that_waits(admin, warm_process,
                                                                 django_assert_num_queries):
    for _ in range(10):
        submit_shell(admin)
    first, second, *_, last = Command.objects.order_by("id")
    Command.objects.filter(pk=first.pk).update(status=Status.RUNNING)
    warm_process(admin)
    with django_assert_num_queries(1):  # the row with its submitter
        assert admin.client.get(f"/api/v1/commands/{first.pk}/").json()["held_by"] is None
    with django_assert_num_queries(2):  # the row, then the label's queue and its workers
        body = admin.client.get(f"/api/v1/commands/{second.pk}/").json()
    assert (body["status"], body["queue_position"]) == ("queued", 1)
    assert body["held_by"] == {"limit": "workers", "label": "default", "running": 1}
    with django_assert_num_queries(2):  # the row, then its queue position and slots held
        body = admin.client.get(f"/api/v1/commands/{last.pk}/").json()
    assert body["queue_position"] == 8
    assert body["held_by"] == {"limit": "max_concurrency", "max_concurrency": 2, "active": 2}


# --- logs --------------------------------------------------------------------------------


def write_log(command, *pieces):
    writer = LogWriter(command.pk, 10**6)
    for stream, data in pieces:
        writer.append(stream, data)
        writer.flush()
    Command.objects.filter(pk=command.pk).update(log_size=writer.size)
    return writer


def running_command(actor):
    command = submit_shell(actor)
    return lifecycle.claim(command.pk, WorkerIdentity("w", "n", "h", None))


def test_logs_are_read_by_byte_offset_with_next_offset_and_more(member):
    command = running_command(member)
    write_log(command, ("stdout", b"hello "), ("stderr", b"warn\n"), ("stdout", b"world\n"))
    url = f"/api/v1/commands/{command.pk}/logs/"
    first = member.client.get(url, {"offset": 0, "limit": 8}).json()
    assert first == {"offset": 0, "next_offset": 8, "data": "hello wa", "more": True,
                     "size": 17, "stream": "all"}
    rest = member.client.get(url, {"offset": 8}).json()
    assert (rest["data"], rest["next_offset"]) == ("rn\nworld\n", 17)
    assert rest["more"] is True  # still running: more may come
    stdout = member.client.get(url, {"stream": "stdout", "offset": 3}).json()
    assert (stdout["data"], stdout["size"]) == ("lo world\n", 12)  # that stream's size
    assert member.client.get(url, {"stream": "stderr"}).json()["size"] == 5
    lifecycle.finish(command, Status.DONE)
    assert member.client.get(url, {"offset": 17}).json()["more"] is False
    assert member.client.get(url, {"stream": "stdout", "offset": 12}).json()["more"] is False


@pytest.mark.parametrize(("params", "field"), [
    ({"offset": "-1"}, "offset"), ({"offset": "x"}, "offset"), ({"limit": "0"}, "limit"),
    ({"stream": "both"}, "stream")])
def test_bad_log_parameters_are_400(member, params, field):
    command = submit_shell(member)
    response = member.client.get(f"/api/v1/commands/{command.pk}/logs/", params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_a_submission_id_of_a_command_the_caller_cannot_read_reveals_nothing(account, admin):
    role = Role.objects.create(account=account, name="own-only")
    Policy.objects.create(role=role, resource="commands", actions=["submit"])
    Policy.objects.create(role=role, resource="commands", actions=["read"],
                          conditions={"own": True})
    loner = make_member(account, "loner@acme.test", roles=[role])
    theirs = post(admin, command_type="shell", script="echo secret", submission_id="shared",
                  runtime_env={"env_vars": {"TOKEN": "hidden"}}).json()
    replay = post(loner, command_type="shell", script="echo secret", submission_id="shared")
    assert replay.status_code == 409
    assert "hidden" not in replay.content.decode()
    assert str(theirs["id"]) not in replay.json()["detail"]


def test_only_served_labels_are_accepted_when_they_are_configured(member, settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "LABELS": ["default", "gpu"]}
    assert post(member, command_type="shell", script="true", label="gpu").status_code == 201
    assert post(member, command_type="shell", script="true").status_code == 201
    typo = post(member, command_type="shell", script="true", label="gpus")
    assert typo.status_code == 400
    assert "gpu" in typo.json()["errors"]["label"][0]
    assert Command.objects.count() == 2


# --- the representation ----------------------------------------------------------------------


def test_the_representation_is_what_the_documented_serializer_says(member, admin):
    from jobs.api.representation import DETAIL_FIELDS, command_detail
    from jobs.api.serializers import CommandDetailSerializer

    command = submit_shell(member, "echo hi", name="n", tags=["a"], metadata={"k": "v"},
                           runtime_env={"env_vars": {"PLAIN": "1"}})
    lifecycle.claim(command.pk, WorkerIdentity("w", "node", "host", "10.0.0.9"))
    command = Command.objects.select_related("user", "account").get(pk=command.pk)
    documented = CommandDetailSerializer(command).data
    assert list(documented) == list(DETAIL_FIELDS)
    assert command_detail(command, admin.membership) == dict(documented)


def test_secret_looking_variables_are_redacted_for_readers_only(member, reader, admin):
    env = {"API_TOKEN": "t0ps3cret", "db_password": "pw", "AWS_SECRET_ACCESS_KEY": "k",
           "REGION": "eu"}
    pk = post(member, command_type="shell", script="true",
              runtime_env={"env_vars": env}).json()["id"]

    def seen_by(actor):
        return actor.client.get(f"/api/v1/commands/{pk}/").json()["runtime_env"]["env_vars"]

    assert seen_by(member) == env
    assert seen_by(admin) == env
    assert seen_by(reader) == {"API_TOKEN": "********", "db_password": "********",
                               "AWS_SECRET_ACCESS_KEY": "********", "REGION": "eu"}
    listed = reader.client.get("/api/v1/commands/").json()["results"][0]
    assert listed["runtime_env"]["env_vars"]["API_TOKEN"] == "********"


def test_secret_looking_metadata_is_redacted_for_readers_only(member, reader):
    metadata = {"api_token": "t0ps3cret", "team": "etl"}
    pk = post(member, command_type="shell", script="true", metadata=metadata).json()["id"]
    assert member.client.get(f"/api/v1/commands/{pk}/").json()["metadata"] == metadata
    assert reader.client.get(f"/api/v1/commands/{pk}/").json()["metadata"] == {
        "api_token": "********", "team": "etl"}
    listed = reader.client.get("/api/v1/commands/").json()["results"][0]
    assert listed["metadata"]["api_token"] == "********"
