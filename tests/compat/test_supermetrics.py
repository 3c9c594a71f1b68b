"""The Supermetrics shape in this process: starts, status, pages, errors, headers, access and
query counts. SQL runs in this process with the real supervisor (jobs.worker.run); the
official client against a live server is in test_supermetrics_client.py."""

import json
import re
from datetime import date

import jsonschema  # schemathesis's, a dev dependency
import pytest
from django.db import connection

from accounts.models import Account
from jobs import lifecycle, reads
from jobs.compat.supermetrics import schema
from jobs.compat.supermetrics.request import absolute_date
from jobs.models import Command, Status
from jobs.worker import run as worker_run
from tests.jobs.factories import submit_shell

TITLE = re.compile(r"^[A-Za-z0-9\s]+$")
DETAIL = re.compile(r"^[A-Za-z0-9\s.,\-]+$")
ID = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
RANGE = "SELECT range AS n, 'row ' || range AS label FROM range({n}) ORDER BY n"
FIVE = RANGE.format(n=5)


def data(actor, method="get", **params):
    call = actor.client.get if method == "get" else actor.client.post
    if method == "get":
        return call("/query/data/json", params)
    return call("/query/data/json", params, format="json")


def status(actor, **fields):
    return actor.client.get("/query/status", {"json": json.dumps(fields)})


def ran(schedule_id):
    """Run the command of ``schedule_id`` here, to the end."""
    command = Command.objects.get(submission_id=schedule_id)
    worker_run.run_command(command.pk)
    return Command.objects.get(pk=command.pk)


def started(actor, schedule_id, sql=FIVE, **params):
    response = data(actor, query=sql, schedule_id=schedule_id, **params)
    assert response.status_code == 200, response.json()
    return response.json()


def problem(response, code):
    assert response.status_code == code, response.content
    body = response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert TITLE.match(body["title"]) and len(body["title"]) <= 255, body
    assert DETAIL.match(body["detail"]) and len(body["detail"]) <= 1000, body
    assert body["status"] == code and body["instance"].startswith("http")
    return body


@pytest.fixture
def saved(admin):
    response = admin.client.post("/api/v1/saved-queries/", {
        "name": "monthly", "sql": "SELECT range AS n FROM range(10) WHERE range >= :low "
                                  "AND CAST(:start_date AS DATE) <= DATE '2026-12-31' ORDER BY n",
        "parameters": [{"name": "low", "type": "integer", "default": 0},
                       {"name": "start_date", "type": "date", "required": True}]},
        format="json")
    assert response.status_code == 201, response.json()
    return response.json()


# -- starting and reading -------------------------------------------------------------------


def test_a_saved_query_starts_by_ds_id_with_parameters_and_its_status_pages_rows(member, saved):
    body = data(member, ds_id=f"qry_{saved['id']}", schedule_id="monthly-1",
                start_date="2026-01-01", settings=json.dumps({"low": 7})).json()
    assert body["meta"]["schedule_id"] == "monthly-1"
    assert body["meta"]["status_code"] in ("SCHEDULED", "QUEUED")
    assert body["data"] == [] and body["progress"] == {"queries_ready": 0, "queries_total": 0}
    command = ran("monthly-1")
    assert command.parameters == {"low": 7, "start_date": "2026-01-01"}

    reply = status(member, schedule_id="monthly-1").json()
    assert reply["meta"]["status_code"] == "SUCCESS"
    assert reply["progress"] == {"queries_ready": 1, "queries_total": 1}
    assert reply["workflow"] == {"tasks_scheduled": 0, "tasks_running": 0}
    assert reply["data"] == [{"n": 7}, {"n": 8}, {"n": 9}]


def test_the_saved_query_may_be_named_by_id_or_name_and_the_settings_as_the_client_sends_them(
        member, saved):
    by_name = data(member, ds_id="monthly", start_date="2026-01-01",
                   settings=repr({"low": "8"}))
    by_id = data(member, ds_id=str(saved["id"]), start_date="2026-01-01")
    assert by_name.status_code == by_id.status_code == 200, (by_name.json(), by_id.json())
    assert Command.objects.get(submission_id=by_name.json()["meta"]["schedule_id"]
                               ).parameters["low"] == 8


def test_ad_hoc_sql_runs_on_the_default_source_and_data_json_answers_rows_and_fields(member):
    started(member, "adhoc-1", "SELECT 1 AS one, 'x' AS label, 2.5 AS num")
    ran("adhoc-1")
    body = data(member, schedule_id="adhoc-1").json()
    assert body["data"] == [[1, "x", 2.5]]
    assert [f["field_name"] for f in body["meta"]["query"]["fields"]] == ["one", "label", "num"]
    assert body["meta"]["result"]["total_rows"] == 1


def test_a_post_with_a_json_body_or_a_json_field_starts_the_same_way(member):
    by_body = data(member, "post", query="SELECT 1 AS one", schedule_id="post-1")
    by_field = member.client.post("/query/data/json", {"json": json.dumps(
        {"query": "SELECT 2 AS two", "schedule_id": "post-2"})})
    assert by_body.status_code == by_field.status_code == 200
    assert Command.objects.filter(submission_id__in=["post-1", "post-2"]).count() == 2


def test_a_repeated_schedule_id_answers_the_same_query_and_another_definition_is_409(member):
    first = started(member, "same-1")
    again = started(member, "same-1")
    assert first["meta"]["schedule_id"] == again["meta"]["schedule_id"] == "same-1"
    assert first["meta"]["request_id"] != again["meta"]["request_id"]
    assert Command.objects.filter(submission_id="same-1").count() == 1
    problem(data(member, query="SELECT 2", schedule_id="same-1"), 409)


def test_the_request_id_of_any_reply_also_names_the_query_as_the_clients_docs_poll(member):
    request_id = started(member, "alias-1")["meta"]["request_id"]
    assert ID.match(request_id)
    reply = data(member, ds_id="", schedule_id=request_id).json()
    assert reply["meta"]["schedule_id"] == "alias-1"
    assert status(member, schedule_id=request_id).status_code == 200


def test_a_command_whose_submission_id_supermetrics_cannot_spell_is_shown_by_its_alias(member):
    response = member.client.post("/api/v1/commands/", {
        "command_type": "sql", "query": "SELECT 1", "submission_id": "ray:job.1"}, format="json")
    pk = response.json()["id"]
    reply = status(member, schedule_id=f"cmd-{pk}").json()
    assert reply["meta"]["schedule_id"] == f"cmd-{pk}"


def test_a_failed_query_is_failure_with_its_error_and_no_data(member):
    started(member, "bad-1", "SELECT * FROM no_such_table")
    assert ran("bad-1").status == Status.ERROR
    body = status(member, schedule_id="bad-1").json()
    assert body["meta"]["status_code"] == "FAILURE" and body["data"] == []
    assert "no_such_table" in body["meta"]["error"]["message"]


def test_a_cancelled_query_is_stopped(member):
    started(member, "stop-1")
    lifecycle.cancel(Command.objects.get(submission_id="stop-1"))
    assert status(member, schedule_id="stop-1").json()["meta"]["status_code"] == "STOPPED"


def test_workflow_counts_the_accounts_queue(member):
    for index in range(3):
        started(member, f"queue-{index}")
    body = status(member, schedule_id="queue-0").json()
    # max_concurrency 2: two queued, one waiting (throttled): all three scheduled.
    assert body["workflow"] == {"tasks_scheduled": 3, "tasks_running": 0}
    assert status(member, schedule_id="queue-2").json()["meta"]["status_code"] == "SCHEDULED"


# -- paging ---------------------------------------------------------------------------------


@pytest.fixture
def big(member, settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "RESULT_CHUNK_ROWS": 997}
    started(member, "big-1", RANGE.format(n=25_000))
    assert ran("big-1").result_row_count == 25_000
    return "big-1"


def numbers(response):
    assert response.status_code == 200, response.json()
    return [row["n"] for row in response.json()["data"]]


def test_paging_is_exact_at_the_edges(member, big):
    assert numbers(status(member, schedule_id=big, offset_start=0, offset_end=0)) == [0]
    assert numbers(status(member, schedule_id=big, offset_start=996, offset_end=998)) == [
        996, 997, 998]
    assert numbers(status(member, schedule_id=big, offset_start=24_998)) == [24_998, 24_999]
    assert numbers(status(member, schedule_id=big, offset_start=25_000)) == []
    assert numbers(status(member, schedule_id=big, offset_start=1_000_000)) == []


def test_a_reply_holds_at_most_10000_rows(member, big):
    assert numbers(status(member, schedule_id=big)) == list(range(10_000))
    assert numbers(status(member, schedule_id=big, offset_start=5, offset_end=20_000)) == list(
        range(5, 10_005))
    rows = data(member, schedule_id=big, offset_start=3, max_rows=4).json()["data"]
    assert [row[0] for row in rows] == [3, 4, 5, 6]


@pytest.mark.parametrize("fields", [
    {"offset_start": -1}, {"offset_start": 1_000_001}, {"offset_end": 1_000_001},
    {"offset_start": 5, "offset_end": 4}, {"offset_start": "x"}, {"offset_start": True},
    {"offset_start": 1.5},
])
def test_offsets_out_of_range_are_400_naming_the_field(member, big, fields):
    body = problem(status(member, schedule_id=big, **fields), 400)
    assert set(body["errors"]) <= {"offset_start", "offset_end"}


# -- errors ---------------------------------------------------------------------------------


def test_an_unknown_schedule_id_is_404_status_not_found_on_both_endpoints(member):
    for response in (status(member, schedule_id="nope"),
                     data(member, schedule_id="nope"), data(member, schedule_id="cmd-999")):
        assert response.status_code == 404
        assert response.json() == {"error": "STATUS_NOT_FOUND"}


def test_a_shell_command_is_not_a_supermetrics_query(member):
    command = submit_shell(member, submission_id="shell-1")
    assert status(member, schedule_id=command.submission_id).status_code == 404


@pytest.mark.parametrize(("params", "field"), [
    ({"json": "{bad"}, "json"),
    ({"json": "[1, 2]"}, "json"),
    ({"json": json.dumps({"schedule_id": "a b"})}, "schedule_id"),
    ({"json": json.dumps({"schedule_id": "x" * 51})}, "schedule_id"),
    ({"json": json.dumps({"schedule_id": {"a": 1}})}, "schedule_id"),
    ({"json": json.dumps({})}, "schedule_id"),
    ({"json": '{"schedule_id": "a\\u0000"}'}, "json"),
    ({"json": "[" * 100 + "]" * 100}, "json"),
    ({"json": '{"schedule_id": "abc", "offset_start": 1e999}'}, "json"),
    ({}, "json"),
])
def test_malformed_status_requests_are_400_problems_naming_the_field(member, params, field):
    body = problem(member.client.get("/query/status", params), 400)
    assert field in body["errors"], body


@pytest.mark.parametrize(("params", "field"), [
    ({}, "ds_id"),
    ({"ds_id": "qry_99999"}, "ds_id"),
    ({"ds_id": "x" * 300}, "ds_id"),
    ({"query": "SELECT 1", "ds_id": "no_such_source"}, "ds_id"),
    ({"query": "SELECT :x"}, "settings"),
    ({"query": "SELECT 1", "settings": "[1]"}, "settings"),
    ({"query": "SELECT 1", "settings": "{'a': (1,)}"}, "settings"),
    ({"query": "SELECT 1", "settings": "__import__('os')"}, "settings"),
    ({"query": "SELECT 1", "sync_timeout": "-1"}, "sync_timeout"),
    ({"query": "SELECT 1\x00"}, "query"),
    ({"query": "SELECT 1", "schedule_id": "bad id!"}, "schedule_id"),
])
def test_malformed_starts_are_400_problems_naming_the_field(member, params, field):
    body = problem(data(member, **params), 400)
    assert field in body["errors"], body
    assert not Command.objects.exists()


def test_a_json_body_that_is_not_an_object_is_400(member):
    response = member.client.post("/query/data/json", "[1]", content_type="application/json")
    assert problem(response, 400)["errors"] == {"json": ["Send the query as a JSON object."]}
    assert not Command.objects.exists()


# -- authentication, access, headers ---------------------------------------------------------


def test_the_token_may_come_as_bearer_api_key_parameter_or_field(member, anonymous):
    started(member, "auth-1")
    fields = {"schedule_id": "auth-1"}
    assert anonymous.get("/query/status", {"json": json.dumps(fields),
                                           "api_key": member.token}).status_code == 200
    assert anonymous.get("/query/status", {"json": json.dumps(
        {**fields, "api_key": member.token})}).status_code == 200
    assert anonymous.post("/query/data/json", {**fields, "api_key": member.token},
                          format="json").status_code == 200
    assert anonymous.get("/query/status", {"json": json.dumps(fields)},
                         HTTP_X_API_KEY=member.token).status_code == 200


@pytest.mark.parametrize("token", [None, "wrong", ""])
def test_without_a_valid_token_it_is_401_with_www_authenticate_bearer(db, anonymous, token):
    params = {"json": json.dumps({"schedule_id": "x", **({"api_key": token} if token else {})})}
    response = anonymous.get("/query/status", params)
    problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert 1 <= int(response["X-RateLimit-Limit"]) <= 10_000


def test_four_actors(actors):
    started(actors["member"], "mine-1")
    for name in ("admin", "member", "reader"):
        assert status(actors[name], schedule_id="mine-1").status_code == 200, name
    assert status(actors["outsider"], schedule_id="mine-1").json() == {"error": "STATUS_NOT_FOUND"}
    assert data(actors["outsider"], schedule_id="mine-1").status_code == 404
    problem(data(actors["reader"], query="SELECT 1"), 403)
    assert data(actors["admin"], query="SELECT 1").status_code == 200
    # The outsider's own schedule_id of the same name is theirs alone.
    assert data(actors["outsider"], query="SELECT 2", schedule_id="mine-1").status_code == 200


@pytest.mark.parametrize("make", ["ok", "bad", "missing"])
def test_rate_limit_and_cors_headers_are_on_every_response(member, make):
    started(member, "head-1")
    response = {"ok": lambda: status(member, schedule_id="head-1"),
                "bad": lambda: status(member, schedule_id="a b"),
                "missing": lambda: status(member, schedule_id="nope")}[make]()
    assert response["Access-Control-Allow-Origin"] == "*"
    limit, left = int(response["X-RateLimit-Limit"]), int(response["X-RateLimit-Remaining"])
    assert (limit, 0 <= left < limit) == (5000, True)


def test_the_headers_stay_within_the_documented_bounds_and_the_origin_is_a_setting(
        member, settings):
    Account.objects.filter(pk=member.account.pk).update(api_rate_limit=10**6)
    settings.JOBPORTAL = {**settings.JOBPORTAL, "CORS_ALLOW_ORIGIN": "https://dash.example"}
    response = status(member, schedule_id="nope")
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("10000",
                                                                                  "10000")
    assert response["Access-Control-Allow-Origin"] == "https://dash.example"
    assert "Origin" in response["Vary"]


def test_a_preflight_is_answered_without_a_credential(anonymous):
    response = anonymous.options("/query/data/json", HTTP_ORIGIN="https://dash.example",
                                 HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert response.status_code == 204
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "Authorization" in response["Access-Control-Allow-Headers"]
    assert response["Access-Control-Allow-Origin"] == "*"


def test_past_the_limit_it_is_429_with_retry_after(member):
    Account.objects.filter(pk=member.account.pk).update(api_rate_limit=3)
    codes = [status(member, schedule_id="nope").status_code for _ in range(3)]
    response = status(member, schedule_id="nope")
    assert codes == [404] * 3
    problem(response, 429)
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("3", "0")
    assert response["Access-Control-Allow-Origin"] == "*"


def test_status_costs_one_query_on_a_warm_process(member, warm_process,
                                                  django_assert_num_queries):
    started(member, "count-1")
    started(member, "count-2")
    warm_process(member)
    with django_assert_num_queries(1):  # the command with its account's queue
        body = status(member, schedule_id="count-1").json()
    assert body["workflow"] == {"tasks_scheduled": 2, "tasks_running": 0}
    with django_assert_num_queries(1):
        assert data(member, schedule_id="count-1").status_code == 200
    with django_assert_num_queries(1):
        assert status(member, schedule_id="nope").status_code == 404


@pytest.mark.parametrize("body", [
    '{"query": ' + "[" * 100 + "]" * 100 + "}", '{"query": "SELECT 1\\u0000"}',
    '{"query": "SELECT 1", "sync_timeout": 1e999}', '{"json": 5}', "{",
])
def test_hostile_post_bodies_are_400_and_start_nothing(member, body):
    response = member.client.post("/query/data/json", body, content_type="application/json")
    problem(response, 400)
    assert not Command.objects.exists()


def test_an_oversized_post_is_413_in_the_documented_words(member, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    problem(data(member, "post", query="SELECT 1 -- " + "x" * 2000), 413)
    assert not Command.objects.exists()


def test_every_reply_keeps_to_the_documented_bounds_and_patterns(member):
    started(member, "bounds-ok")
    started(member, "bounds-bad", "SELECT * FROM nowhere")
    replies = [status(member, schedule_id="bounds-ok"), data(member, schedule_id="bounds-ok")]
    ran("bounds-ok")
    ran("bounds-bad")
    for schedule_id in ("bounds-ok", "bounds-bad"):
        replies += [status(member, schedule_id=schedule_id),
                    data(member, schedule_id=schedule_id)]
    for response in replies:
        body_schema = schema.STATUS if response.request["PATH_INFO"] == "/query/status" else (
            schema.DATA)
        jsonschema.validate(response.json(), body_schema)
        assert ID.match(response.json()["meta"]["request_id"])
    request_ids = [r.json()["meta"]["request_id"] for r in replies]
    assert len(set(request_ids)) == len(request_ids)


def test_a_schedule_id_chosen_like_an_alias_still_names_its_own_query(member):
    other = started(member, "first-1")
    alias = f"cmd-{Command.objects.get(submission_id='first-1').pk}"
    started(member, alias, "SELECT 2 AS two")
    assert status(member, schedule_id=alias).json()["meta"]["schedule_id"] == alias
    assert other["meta"]["schedule_id"] == "first-1"


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-01-31", "2026-01-31"), ("today", "2026-03-10"), ("yesterday", "2026-03-09"),
    ("7daysAgo", "2026-03-03"), ("30 days ago", "2026-02-08"), ("soon", "soon"),
])
def test_relative_dates_are_made_absolute(text, expected):
    assert absolute_date(text, today=date(2026, 3, 10)) == expected


def test_a_relative_start_date_reaches_the_query_as_a_date(member, saved):
    body = data(member, ds_id="monthly", start_date="yesterday").json()
    command = Command.objects.get(submission_id=body["meta"]["schedule_id"])
    assert len(command.parameters["start_date"]) == 10


def test_the_read_of_a_status_with_its_queue_uses_indexes(member):
    # No bulk history here: thousands of rolled-back rows would leave dead pages that change
    # the plans tests/jobs/test_indexes.py reads later in the same database.
    started(member, "plan-1")
    sql, _, _ = reads._statement_with(connection.alias, reads.BY_REF, "queue")
    params = [member.account.pk, "plan-1", None, "plan-1"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        text = "\n".join(str(row[-1]) for row in cursor.fetchall())
    # Every read of the command table, the two counts included, goes through an index.
    scans = [line for line in text.splitlines()
             if ("Seq Scan" in line or line.strip().startswith("SCAN"))
             and ("jobs_command" in line or "other" in line) and "INDEX" not in line]
    assert not scans, text


def test_data_json_links_the_pages_around_without_the_api_key(member, big, anonymous):
    body = anonymous.get("/query/data/json", {"schedule_id": big, "offset_start": 10,
                                              "offset_end": 19, "api_key": member.token}).json()
    links = body["meta"]["paginate"]
    assert "api_key" not in links["next"] + links["prev"]
    following = member.client.get(links["next"]).json()
    assert [row[0] for row in following["data"]] == list(range(20, 30))
    before = member.client.get(links["prev"]).json()
    assert [row[0] for row in before["data"]] == list(range(0, 10))
    last = data(member, schedule_id=big, offset_start=24_990).json()["meta"]["paginate"]
    assert "next" not in last
