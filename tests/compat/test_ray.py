"""The Ray job API shape in process: JobDetails field by field, submission rules, stop and
delete, logs, access for the four actors, query counts, errors in Ray's plain text."""

import pytest

from accounts.models import AuditEvent
from jobs import lifecycle
from jobs.logs import LogWriter
from jobs.models import Command, Status
from tests.jobs.factories import submit_shell
from tests.jobs.test_indexes import some_commands as some_commands  # a fixture
from tests.jobs.test_sql_support import submit_sql, submitted

SEED_FIELDS = {"type", "entrypoint", "submission_id", "driver_info", "status", "start_time",
               "end_time", "metadata", "runtime_env", "driver_agent_http_address",
               "driver_node_id", "driver_exit_code", "error_type"}
RAY_FIELDS = SEED_FIELDS | {"job_id", "message"}


def submit(actor, **body):
    return actor.client.post("/api/jobs/", {"entrypoint": "echo hi", **body}, format="json")


def text_error(response, status):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def finish(command, status, **outcome):
    """What a worker records: claim, then the outcome."""
    lifecycle.claim(command.pk, lifecycle.WorkerIdentity("w-1", "node-1", "host-1", "10.0.0.7"))
    command = Command.objects.get(pk=command.pk)
    Command.objects.filter(pk=command.pk).update(pid=4242)
    assert lifecycle.finish(command, status, **outcome)
    return Command.objects.get(pk=command.pk)


def test_version_names_a_ray_version_the_client_accepts(member):
    body = member.client.get("/api/version").json()
    assert set(body) == {"version", "ray_version", "ray_commit", "session_name"}
    assert body["version"].isdigit()
    major, minor, _ = (int(part) for part in body["ray_version"].split("."))
    assert (major, minor) >= (2, 8)


def test_submit_answers_exactly_job_id_and_submission_id_and_records_everything(member):
    response = submit(member, entrypoint="python run.py", submission_id="raysubmit_abc",
                      runtime_env={"env_vars": {"A": "1"}}, metadata={"team": "x"},
                      entrypoint_num_cpus=1.5, entrypoint_memory=1024,
                      entrypoint_resources={"disk": 2})
    assert response.status_code == 200, response.content
    assert response.json() == {"job_id": "raysubmit_abc", "submission_id": "raysubmit_abc"}
    command = Command.objects.get(submission_id="raysubmit_abc")
    assert (command.command_type, command.script) == ("shell", "python run.py")
    assert command.metadata == {"team": "x"}
    assert command.runtime_env == {"env_vars": {"A": "1"}, "requested_resources": {
        "num_cpus": 1.5, "memory": 1024, "resources": {"disk": 2}}}
    assert AuditEvent.objects.filter(action="commands.submit", object_id=str(command.pk)).exists()


def test_a_taken_submission_id_is_a_400_in_rays_words_and_runs_nothing_twice(member):
    assert submit(member, submission_id="same").status_code == 200
    for body in ({}, {"entrypoint": "echo other"}):
        text = text_error(submit(member, submission_id="same", **body), 400)
        assert text == ("Job with submission_id same already exists. Please use a different "
                        "submission_id.")
    assert Command.objects.filter(submission_id="same").count() == 1


def test_the_details_have_every_field_of_the_seed_with_rays_types(member):
    command = submit_shell(member, "echo hi", metadata={"k": "v"},
                           runtime_env={"env_vars": {"A": "1"}})
    pending = member.client.get(f"/api/jobs/{command.submission_id}").json()
    assert set(pending) == RAY_FIELDS
    assert pending["status"] == "PENDING" and pending["driver_info"] is None
    assert pending["start_time"] == int(command.created_at.timestamp() * 1000)
    assert pending["end_time"] is None
    done = finish(command, Status.DONE, exit_code=0)
    body = member.client.get(f"/api/jobs/{command.pk}").json()
    assert body == {
        "type": "SUBMISSION", "job_id": str(command.pk), "submission_id": command.submission_id,
        "driver_info": {"id": command.submission_id, "node_ip_address": "10.0.0.7",
                        "pid": "4242"},
        "status": "SUCCEEDED", "entrypoint": "echo hi", "message": "Job finished successfully.",
        "error_type": None, "start_time": int(done.created_at.timestamp() * 1000),
        "end_time": int(done.finished_at.timestamp() * 1000), "metadata": {"k": "v"},
        "runtime_env": {"env_vars": {"A": "1"}}, "driver_agent_http_address": None,
        "driver_node_id": "node-1", "driver_exit_code": 0,
    }


def test_a_failed_entrypoint_has_its_error_type_exit_code_and_log_tail(member):
    command = finish(submit_shell(member, "exit 3"), Status.ERROR, exit_code=3,
                     error_type="NonZeroExit",
                     error_message="Exited with code 3.\n--- last output ---\nboom\n")
    body = member.client.get(f"/api/jobs/{command.submission_id}").json()
    assert (body["status"], body["error_type"]) == ("FAILED", "JOB_ENTRYPOINT_COMMAND_ERROR")
    assert body["driver_exit_code"] == 3
    assert "boom" in body["message"] and "code 3" in body["message"]


def test_a_submission_id_that_looks_like_another_jobs_id_finds_its_own_job(member):
    first = submit_shell(member)
    second = submit_shell(member, submission_id=str(first.pk))
    assert member.client.get(f"/api/jobs/{first.pk}").json()["job_id"] == str(second.pk)
    assert member.client.get(f"/api/jobs/{first.submission_id}").json()["job_id"] == str(
        first.pk)


def test_sql_commands_are_not_jobs_of_the_ray_shape(member):
    pk = submitted(submit_sql(member, "SELECT 1"))
    text_error(member.client.get(f"/api/jobs/{pk}"), 404)
    assert member.client.get("/api/jobs/").json() == []


def test_the_list_is_newest_first_and_only_the_callers_account(member, outsider):
    ids = [submit_shell(member).pk for _ in range(3)]
    submit_shell(outsider)
    assert [job["job_id"] for job in member.client.get("/api/jobs/").json()] == [
        str(pk) for pk in reversed(ids)]


def test_a_job_in_the_list_is_the_same_as_its_details(member, reader):
    pending = submit_shell(member, metadata={"k": "v", "api_key": "k3y"},
                           runtime_env={"env_vars": {"API_TOKEN": "secret", "A": "1"}})
    finish(submit_shell(member, "exit 3"), Status.ERROR, exit_code=3, error_type="Killed",
           error_message="Terminated by SIGKILL.")
    for actor in (member, reader):  # the reader sees the token redacted, in both
        listed = actor.client.get("/api/jobs/").json()
        assert listed == [actor.client.get(f"/api/jobs/{job['job_id']}").json()
                          for job in listed]
    assert listed[1]["runtime_env"]["env_vars"]["API_TOKEN"] == "********"
    assert listed[1]["metadata"] == {"k": "v", "api_key": "********"}
    assert listed[1]["job_id"] == str(pending.pk)


def test_stop_ends_a_queued_job_at_once_and_says_false_once_it_has_ended(member):
    command = submit_shell(member)
    assert member.client.post(f"/api/jobs/{command.submission_id}/stop").json() == {
        "stopped": True}
    assert member.client.get(f"/api/jobs/{command.pk}").json()["status"] == "STOPPED"
    assert member.client.post(f"/api/jobs/{command.pk}/stop").json() == {"stopped": False}


def test_delete_removes_an_ended_job_and_refuses_an_active_one(member):
    command = submit_shell(member)
    text = text_error(member.client.delete(f"/api/jobs/{command.submission_id}"), 400)
    assert "non-terminal state PENDING" in text
    lifecycle.cancel(command)
    assert member.client.delete(f"/api/jobs/{command.pk}").json() == {"deleted": True}
    assert not Command.objects.filter(pk=command.pk).exists()
    assert AuditEvent.objects.filter(action="commands.delete",
                                     object_id=str(command.pk)).exists()
    text_error(member.client.get(f"/api/jobs/{command.pk}"), 404)


def write_log(command, *pieces):
    log = LogWriter(command.pk, 10**9)
    for stream, data in pieces:
        log.append(stream, data)
    log.flush()
    Command.objects.filter(pk=command.pk).update(log_size=log.size)


def test_logs_interleave_stdout_and_stderr_as_written(member):
    command = submit_shell(member)
    write_log(command, ("stdout", b"one\n"), ("stderr", b"two\n"), ("stdout", b"three\n"))
    assert member.client.get(f"/api/jobs/{command.pk}/logs").json() == {
        "logs": "one\ntwo\nthree\n"}


def test_a_long_log_answers_its_end_from_a_line_start_and_says_what_is_left_out(
        member, settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "RAY_LOG_BYTES": 100}
    command = submit_shell(member)
    lines = b"".join(b"line %04d\n" % n for n in range(100))  # 10 bytes a line
    write_log(command, ("stdout", lines))
    logs = member.client.get(f"/api/jobs/{command.pk}/logs").json()["logs"]
    first, rest = logs.split("\n", 1)
    assert "first 910 bytes of this log are left out" in first
    assert f"/api/v1/commands/{command.pk}/logs/" in first
    assert rest == lines[910:].decode()


def test_unknown_ids_are_404_in_rays_words(member):
    for path in ("/api/jobs/nope", "/api/jobs/nope/logs"):
        assert text_error(member.client.get(path), 404) == "Job nope does not exist"
    assert text_error(member.client.post("/api/jobs/nope/stop"), 404) == (
        "Job nope does not exist")
    text_error(member.client.delete("/api/jobs/99999999"), 404)


@pytest.mark.parametrize("body, field", [
    ({"entrypoint": 5}, "entrypoint"),
    ({"entrypoint": ""}, "entrypoint"),
    ({"runtime_env": {"pip": ["requests"]}}, "runtime_env"),
    ({"runtime_env": {"conda": "env"}}, "runtime_env"),
    ({"runtime_env": {"working_dir": "/etc"}}, "runtime_env"),
    ({"runtime_env": {"working_dir": "s3://bucket/x.zip"}}, "runtime_env"),
    ({"runtime_env": {"env_vars": {"JOBPORTAL_X": "1"}}}, "runtime_env"),
    ({"runtime_env": {"env_vars": {"A": 1}}}, "runtime_env"),
    ({"runtime_env": "x"}, "runtime_env"),
    ({"metadata": {"a": 1}}, "metadata"),
    ({"submission_id": "has space"}, "submission_id"),
    ({"submission_id": "x" * 129}, "submission_id"),
    ({"entrypoint_num_cpus": "2"}, "entrypoint_num_cpus"),
    ({"entrypoint_num_cpus": -1}, "entrypoint_num_cpus"),
    ({"entrypoint_memory": 1.5}, "entrypoint_memory"),
    ({"entrypoint_resources": {"gpu": True}}, "entrypoint_resources"),
])
def test_bad_submissions_are_400_naming_the_field_and_write_nothing(member, body, field):
    text = text_error(submit(member, **body), 400)
    assert text.startswith(f"{field}:"), text
    assert not Command.objects.exists()


@pytest.mark.parametrize("env_vars", [{"REGION": "eu"}, '{"REGION": "eu"}'])
def test_openyuanrongs_envvars_spelling_is_env_vars(member, env_vars):
    response = submit(member, runtime_env={"envVars": env_vars})
    assert response.status_code == 200, response.content
    assert Command.objects.get().runtime_env == {"env_vars": {"REGION": "eu"}}


@pytest.mark.parametrize("runtime_env", [{"envVars": "{not json"}, {"envVars": "[1]"},
                                         {"envVars": {"A": "1"}, "env_vars": {"B": "2"}}])
def test_bad_envvars_are_400(member, runtime_env):
    assert text_error(submit(member, runtime_env=runtime_env), 400).startswith("runtime_env")
    assert not Command.objects.exists()


def test_logs_cost_two_queries_on_a_warm_process(member, warm_process,
                                                 django_assert_num_queries):
    command = submit_shell(member)
    write_log(command, ("stdout", b"hi\n"))
    warm_process(member)
    with django_assert_num_queries(2):  # the job, its log
        assert member.client.get(f"/api/jobs/{command.pk}/logs").json() == {"logs": "hi\n"}


def test_pip_is_refused_with_what_to_do_instead(member):
    text = text_error(submit(member, runtime_env={"pip": ["numpy"]}), 400)
    assert "pip is not supported" in text and "workers" in text


def test_a_working_dir_that_was_not_uploaded_is_a_400(member):
    text = text_error(submit(member, runtime_env={
        "working_dir": "gcs://_ray_pkg_0123456789abcdef.zip"}), 400)
    assert "was not uploaded" in text
    assert not Command.objects.exists()


def test_a_body_that_is_not_json_is_a_400(member):
    response = member.client.post("/api/jobs/", b"{not json", content_type="application/json")
    assert "JSON parse error" in text_error(response, 400)
    assert not Command.objects.exists()


# -- access -----------------------------------------------------------------------------------


@pytest.fixture
def members_job(member):
    return submit_shell(member, "echo hi")


@pytest.mark.parametrize("who, status", [("admin", 200), ("member", 200), ("reader", 200),
                                         ("outsider", 404)])
def test_reading_a_job_and_its_logs(actors, members_job, who, status):
    client = actors[who].client
    assert client.get(f"/api/jobs/{members_job.submission_id}").status_code == status
    assert client.get(f"/api/jobs/{members_job.pk}/logs").status_code == status
    listed = [job["job_id"] for job in client.get("/api/jobs/").json()]
    assert (str(members_job.pk) in listed) == (status == 200)


@pytest.mark.parametrize("who, status", [("admin", 200), ("member", 200), ("reader", 404),
                                         ("outsider", 404)])
def test_stopping_a_members_job(actors, members_job, who, status):
    response = actors[who].client.post(f"/api/jobs/{members_job.submission_id}/stop")
    assert response.status_code == status
    expected = Status.CANCELLED if status == 200 else Status.QUEUED
    assert Command.objects.get(pk=members_job.pk).status == expected


@pytest.mark.parametrize("who, status", [("admin", 200), ("member", 200), ("reader", 404),
                                         ("outsider", 404)])
def test_deleting_a_members_ended_job(actors, members_job, who, status):
    lifecycle.cancel(members_job)
    assert actors[who].client.delete(f"/api/jobs/{members_job.pk}").status_code == status
    assert Command.objects.filter(pk=members_job.pk).exists() == (status != 200)


def test_a_member_may_not_stop_or_delete_an_admins_job_and_sees_404(member, admin):
    command = submit_shell(admin)
    stop = text_error(member.client.post(f"/api/jobs/{command.pk}/stop"), 404)
    assert stop == f"Job {command.pk} does not exist"
    assert Command.objects.get(pk=command.pk).status == Status.QUEUED
    lifecycle.cancel(command)
    delete = text_error(member.client.delete(f"/api/jobs/{command.pk}"), 404)
    assert delete == f"Job {command.pk} does not exist"
    assert Command.objects.filter(pk=command.pk).exists()


@pytest.mark.parametrize("who, status", [("admin", 200), ("member", 200), ("reader", 400),
                                         ("outsider", 200)])
def test_submitting(actors, who, status):
    response = submit(actors[who])
    assert response.status_code == status
    if status == 400:
        assert "may not submit" in response.content.decode()


@pytest.mark.parametrize("path", ["/api/version", "/api/jobs/", "/api/jobs/1",
                                  "/api/jobs/1/logs",
                                  "/api/packages/gcs/_ray_pkg_0123456789abcdef.zip"])
def test_a_bad_or_missing_token_is_401(db, anonymous, path):
    assert anonymous.get(path).status_code == 401
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer jp_nope")
    response = anonymous.get(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_x_ray_authorization_authenticates(anonymous, member):
    anonymous.credentials(HTTP_X_RAY_AUTHORIZATION=f"Bearer {member.token}")
    assert anonymous.get("/api/jobs/").status_code == 200


# -- query counts -----------------------------------------------------------------------------


def test_a_job_costs_one_query_on_a_warm_process(member, warm_process,
                                                 django_assert_num_queries):
    command = submit_shell(member)
    warm_process(member)
    for ref in (command.submission_id, str(command.pk)):
        with django_assert_num_queries(1):
            assert member.client.get(f"/api/jobs/{ref}").status_code == 200


def test_the_list_of_50_jobs_costs_one_query(member, warm_process, django_assert_num_queries):
    for _ in range(50):  # two run (the account's limit), the others wait: throttled
        submit_shell(member, metadata={"k": "v"})
    warm_process(member)
    with django_assert_num_queries(1):
        assert len(member.client.get("/api/jobs/").json()) == 50


def test_the_lookup_by_submission_id_or_id_uses_indexes_not_a_scan(member, some_commands):
    from django.db import connection

    from jobs import reads

    sql, _, _ = reads._statement(connection.alias, reads.BY_REF)
    params = [member.account.pk, "old-7", 7, "old-7"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        text = "\n".join(str(row[-1]) for row in cursor.fetchall())
    # PostgreSQL: an index on submission_id (the unique (account, submission_id) one or the
    # plain one, whichever its statistics make a hair cheaper: both find one row) OR the
    # primary key; SQLite: its MULTI-INDEX OR of the same.
    assert ("command_submission_id" in text and "pkey" in text) or (
        "(account_id=? AND submission_id=?)" in text), text
    assert "Seq Scan on jobs_command" not in text and "SCAN jobs_command" not in text, text


@pytest.mark.parametrize("text, status, says", [
    ('{"entrypoint": "' + "x" * (10 * 1024**2) + '"}', 413, "10485760 bytes"),
    ('{"entrypoint": "echo", "runtime_env": {"env_vars": ' + "[" * 40 + "]" * 40 + "}}", 400,
     "runtime_env"),
    ('{"entrypoint": "echo \\u0000"}', 400, "entrypoint"),
    ('{"entrypoint": "echo", "entrypoint_num_cpus": NaN}', 400, "NaN"),
    ('["entrypoint"]', 400, ""),
])
def test_hostile_submissions_are_4xx_in_plain_text_and_write_nothing(member, text, status,
                                                                      says):
    response = member.client.generic("POST", "/api/jobs/", text,
                                     content_type="application/json")
    assert says in text_error(response, status)
    assert not Command.objects.exists()


@pytest.mark.parametrize("ref", ["%00", "a%00b", "%F0%9F%98%80", "x" * 129, "-1", "1e3",
                                 "99999999999999999999"])
def test_hostile_ids_are_404_on_every_job_path(member, ref):
    for method, path in [("get", f"/api/jobs/{ref}"), ("get", f"/api/jobs/{ref}/logs"),
                         ("post", f"/api/jobs/{ref}/stop"), ("delete", f"/api/jobs/{ref}")]:
        assert getattr(member.client, method)(path).status_code == 404, (method, path)
