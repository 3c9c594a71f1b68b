"""The Qubole shape in-process: fields, access for the four actors, query counts, hostile
input. The real SDK and CLI against a live server are in test_qubole_sdk.py."""

import pytest
from rest_framework.test import APIClient

from jobs import lifecycle
from jobs.compat.qubole import docs
from jobs.compat.qubole.representation import command_json
from jobs.models import Command, Status

SEED_FIELDS = [
    "id", "path", "status", "created_at", "updated_at", "command_type", "progress",
    "qbol_session_id", "qlog", "resolved_macros", "template", "submit_time", "start_time",
    "end_time", "can_notify", "pool", "timeout", "name", "command_source", "nominal_time",
    "sequence_id", "account_id", "saved_query_mutable_id", "user_id", "label", "meta_data",
    "uid", "email", "command", "throttled", "cluster_inst_id", "cluster_id",
]


def qubole(actor):
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=actor.token)
    return client


def shell(actor, script="echo hi", **extra):
    response = qubole(actor).post("/api/v1.2/commands", {
        "command_type": "ShellCommand", "inline": script, "script_location": None,
        "files": None, "archives": None, "label": None, "can_notify": False, "tags": None,
        "name": None, "pool": None, **extra}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def acme_command(member):
    return shell(member)["id"]


def test_a_submitted_shell_command_shows_every_field_of_the_seed(member):
    body = shell(member, "echo $x$", macros=[{"x": "1"}], tags=["a", "b"], name="n1",
                 pool="p", can_notify=True, timeout=60)
    assert set(SEED_FIELDS) <= set(body)
    assert body["command_type"] == "ShellCommand"
    assert body["command"]["inline"] == "echo 1"
    assert body["resolved_macros"] == {"x": "1"}
    assert body["meta_data"] == {"results_resource": f"commands/{body['id']}/results",
                                 "logs_resource": f"commands/{body['id']}/logs"}
    assert body["status"] == "waiting" and body["throttled"] is False
    assert body["created_at"].endswith(" UTC") and isinstance(body["submit_time"], int)
    assert (body["name"], body["pool"], body["can_notify"], body["timeout"]) == (
        "n1", "p", True, 60)
    assert body["email"] == member.user.email and body["user_id"] == member.membership.pk
    assert body["uid"] == member.user.pk and body["account_id"] == member.account.pk
    assert body["path"].endswith(f"/{member.account.pk}/{body['id']}")
    assert body["command_source"] == "API" and body["tags"] == ["a", "b"]


def test_the_representation_is_what_the_documented_serializer_names(member):
    body = shell(member)
    assert list(body) == list(docs.QuboleCommandSerializer().fields)


def test_past_the_concurrency_limit_a_command_is_accepted_waiting_and_throttled(member):
    ids = [shell(member, "sleep 60")["id"] for _ in range(3)]  # the account runs 2 at once
    third = qubole(member).get(f"/api/v1.2/commands/{ids[2]}").json()
    assert (third["status"], third["throttled"]) == ("waiting", True)
    lifecycle.cancel(Command.objects.get(pk=ids[0]))
    third = qubole(member).get(f"/api/v1.2/commands/{ids[2]}").json()
    assert third["throttled"] is False


@pytest.mark.parametrize("who,status", [("admin", 200), ("member", 200), ("reader", 403),
                                        ("outsider", 200)])
def test_access_submit(actors, who, status):
    response = qubole(actors[who]).post("/api/v1.2/commands", {
        "command_type": "ShellCommand", "inline": "true"}, format="json")
    assert response.status_code == status
    if status != 200:
        assert response.json()["error"]["error_code"] == status


@pytest.mark.parametrize("path", ["", "/logs"])
@pytest.mark.parametrize("who,status", [("admin", 200), ("member", 200), ("reader", 200),
                                        ("outsider", 404)])
def test_access_read(actors, acme_command, path, who, status):
    response = qubole(actors[who]).get(f"/api/v1.2/commands/{acme_command}{path}")
    assert response.status_code == status


@pytest.mark.parametrize("who,status", [("admin", 422), ("member", 422), ("reader", 422),
                                        ("outsider", 404)])
def test_access_results_of_an_unfinished_command(actors, acme_command, who, status):
    response = qubole(actors[who]).get(f"/api/v1.2/commands/{acme_command}/results")
    assert response.status_code == status


@pytest.mark.parametrize("who,status", [("admin", 200), ("member", 403), ("reader", 403),
                                        ("outsider", 404)])
def test_access_kill_of_someone_elses_command(actors, admin, who, status):
    pk = shell(admin)["id"]
    response = qubole(actors[who]).put(f"/api/v1.2/commands/{pk}", {"status": "kill"},
                                       format="json")
    assert response.status_code == status
    if status == 200:
        assert response.json()["kill_succeeded"] is True


def test_kill_of_an_ended_command_says_it_did_not_succeed(member, acme_command):
    lifecycle.cancel(Command.objects.get(pk=acme_command))
    body = qubole(member).put(f"/api/v1.2/commands/{acme_command}", {"status": "kill"},
                              format="json").json()
    assert body["kill_succeeded"] is False and "cancelled" in body["result"]


@pytest.mark.parametrize("who,count", [("admin", 1), ("member", 1), ("reader", 1),
                                       ("outsider", 0)])
def test_access_list_of_all_users(actors, acme_command, who, count):
    body = qubole(actors[who]).get("/api/v1.2/commands?all_users=1").json()
    assert len(body["commands"]) == count


def test_the_list_is_the_callers_own_unless_all_users(admin, member):
    shell(admin)
    mine = shell(member)["id"]
    own = qubole(member).get("/api/v1.2/commands").json()["commands"]
    assert [c["id"] for c in own] == [mine]


def test_the_list_pages_and_filters(member):
    ids = [shell(member, name=f"n{i}")["id"] for i in range(5)]
    lifecycle.cancel(Command.objects.get(pk=ids[0]))
    client = qubole(member)
    first = client.get("/api/v1.2/commands?page=1&per_page=2").json()
    assert [c["id"] for c in first["commands"]] == ids[:2:-1][:2]
    assert first["paging_info"] == {"previous_page": None, "next_page": 2, "per_page": 2}
    last = client.get("/api/v1.2/commands?page=3&per_page=2").json()
    assert [c["id"] for c in last["commands"]] == [ids[0]]
    assert last["paging_info"]["next_page"] is None
    assert [c["id"] for c in client.get("/api/v1.2/commands?status=cancelled").json()[
        "commands"]] == [ids[0]]
    assert [c["id"] for c in client.get("/api/v1.2/commands?name=n3").json()[
        "commands"]] == [ids[3]]
    assert client.get("/api/v1.2/commands?command_type=PrestoCommand").json()[
        "commands"] == []
    assert len(client.get("/api/v1.2/commands?command_type=ShellCommand&start_date="
                          "2000-01-01&end_date=2999-01-01").json()["commands"]) == 5
    assert client.get("/api/v1.2/commands?end_date=2000-01-01T00:00:00Z").json()[
        "commands"] == []


@pytest.mark.parametrize("query,field", [
    ("per_page=101", "per_page"), ("page=0", "page"), ("page=x", "page"),
    ("status=bogus", "status"), ("command_type=PigCommand", "command_type"),
    ("start_date=yesterday", "start_date"), ("all_users=maybe", "all_users"),
    ("page=999999999999999999", "page"), ("start_date=2026-13-45", "start_date"),
    ("end_date=2026-02-30T25:00:00", "end_date"), ("name=a%00b", "name"),
    ("include_headers=perhaps", "include_headers"),
])
def test_bad_list_parameters_are_422_naming_them(member, query, field):
    path = "commands"
    if field == "include_headers":
        path = f"commands/{shell(member)['id']}/results"
    response = qubole(member).get(f"/api/v1.2/{path}?{query}")
    assert response.status_code == 422
    assert field in response.json()["errors"]


def test_a_bad_token_is_401_and_no_token_401(member):
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN="jp_nonsense")
    response = client.get("/api/v1.2/commands")
    assert response.status_code == 401
    assert response.json()["error"]["error_code"] == 401
    assert APIClient().get("/api/v1.2/commands/1").status_code == 401


@pytest.mark.parametrize("body,field", [
    ({"command_type": "PigCommand", "latin_statements": "x"}, "command_type"),
    ({"command_type": "ShellCommand"}, "inline"),
    ({"command_type": "ShellCommand", "inline": 5}, "inline"),
    ({"command_type": "ShellCommand", "inline": "x", "script_location": "s3://b/k"},
     "script_location"),
    ({"command_type": "ShellCommand", "inline": "x", "files": "s3://b/f"}, "files"),
    ({"command_type": "ShellCommand", "inline": "x", "timeout": -1}, "timeout"),
    ({"command_type": "ShellCommand", "inline": "x", "macros": "nope"}, "macros"),
    ({"command_type": "ShellCommand", "inline": "x", "tags": [{"a": 1}]}, "tags"),
    ({"command_type": "ShellCommand", "inline": "x", "label": "no spaces"}, "label"),
    ({"command_type": "PrestoCommand"}, "query"),
    ({"command_type": "SparkCommand", "cmdline": "spark-submit x"}, "cmdline"),
    ({"command_type": "DbTapQueryCommand", "query": "select 1", "db_tap_id": "x"},
     "db_tap_id"),
    ({"command_type": "DbTapQueryCommand", "query": "select 1", "db_tap_id": 999999},
     "db_tap_id"),
    ({"command_type": "ShellCommand", "inline": "a\u0000b"}, "inline"),
])
def test_bad_submissions_are_422_naming_the_field_and_write_nothing(member, body, field):
    response = qubole(member).post("/api/v1.2/commands", body, format="json")
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"]
    assert not Command.objects.exists()


@pytest.mark.parametrize("raw", [b"{", b"[1, 2]", b'"text"', b"{\"a\": " * 40 + b"1" + b"}" * 40])
def test_hostile_bodies_are_4xx(member, raw):
    response = qubole(member).generic("POST", "/api/v1.2/commands", raw,
                                      content_type="application/json")
    assert response.status_code in (400, 422), response.content
    assert "error" in response.json()


@pytest.mark.parametrize("path", ["commands/abc", "commands/99999999999999999999999",
                                  "commands/-1/logs", "roles/x", "groups/1e3/roles"])
def test_hostile_ids_are_404(admin, path):
    response = qubole(admin).get(f"/api/v1.2/{path}")
    assert response.status_code == 404
    assert response.json()["error"]["error_code"] == 404


def test_the_detail_is_at_most_two_queries_on_a_warm_process(admin, member, warm_process,
                                                             django_assert_num_queries):
    own = shell(admin)["id"]
    others = shell(member)["id"]
    warm_process(admin)
    client = qubole(admin)
    with django_assert_num_queries(1):  # the row with its submitter
        assert client.get(f"/api/v1.2/commands/{own}").status_code == 200
    with django_assert_num_queries(2):  # and the submitter's membership
        assert client.get(f"/api/v1.2/commands/{others}").json()["user_id"] == (
            member.membership.pk)


def test_the_list_is_two_queries_on_a_warm_process(admin, member, warm_process,
                                                   django_assert_num_queries):
    for actor in (admin, member, admin):
        shell(actor)
    warm_process(admin)
    with django_assert_num_queries(2):  # the page with submitters, then their memberships
        body = qubole(admin).get("/api/v1.2/commands?all_users=1").json()
    assert len(body["commands"]) == 3


def test_logs_are_stderr_for_shell_with_lengths(member, acme_command, django_db_blocker):
    from jobs.logs import LogWriter

    writer = LogWriter(acme_command, 10_000)
    writer.append("stdout", b"out\n")
    writer.append("stderr", b"err1\nerr2\n")
    writer.flush()
    client = qubole(member)
    response = client.get(f"/api/v1.2/commands/{acme_command}/logs")
    assert response.content == b"err1\nerr2\n"
    assert (response["err_length"], response["tmp_length"]) == ("10", "0")
    later = client.get(f"/api/v1.2/commands/{acme_command}/logs?err_file_processed=5&"
                       "tmp_file_processed=0")
    assert later.content == b"err2\n" and later["err_length"] == "5"


def test_results_inline_for_a_finished_shell_command(member, acme_command):
    from jobs.logs import LogWriter

    writer = LogWriter(acme_command, 10_000)
    writer.append("stdout", b"a\tb\n")
    writer.flush()
    Command.objects.filter(pk=acme_command).update(status=Status.DONE)
    body = qubole(member).get(f"/api/v1.2/commands/{acme_command}/results?inline=True"
                              "&include_headers=false").json()
    assert body == {"inline": True, "results": "a\tb\n", "command_type": "ShellCommand",
                    "truncated": False}


def test_a_result_too_large_to_inline_points_to_the_portals_pages(member, acme_command,
                                                                  monkeypatch):
    from jobs.compat.qubole import commands
    from jobs.logs import LogWriter

    monkeypatch.setattr(commands, "INLINE_MAX_BYTES", 3)
    writer = LogWriter(acme_command, 10_000)
    writer.append("stdout", b"abcdef\n")
    writer.flush()
    Command.objects.filter(pk=acme_command).update(status=Status.DONE)
    response = qubole(member).get(f"/api/v1.2/commands/{acme_command}/results")
    assert response.status_code == 422
    body = response.json()
    assert "too large" in body["error"]["error_message"]
    assert body["portal_results"] == f"/api/v1/commands/{acme_command}/results/"


def test_the_representation_of_a_sql_command_names_its_qubole_type(member):
    response = qubole(member).post("/api/v1.2/commands", {
        "command_type": "PrestoCommand", "query": "select 1 as n", "label": "default"},
        format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["command_type"] == "PrestoCommand"
    assert body["command"] == {"query": "select 1 as n", "script_location": None,
                               "md_cmd": False}
    command = Command.objects.get(pk=body["id"])
    assert command.command_type == "sql" and command.data_source.name == "default"
    assert command_json(command, member.membership)["label"] == "default"


def test_the_hourly_rate_limit_answers_429_in_quboles_format(member):
    member.account.api_rate_limit = 1
    member.account.save()
    client = qubole(member)
    assert client.get("/api/v1.2/commands").status_code == 200
    response = client.get("/api/v1.2/commands")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert response.json()["error"]["error_code"] == 429


def test_naive_times_are_utc_and_a_whole_day_is_inclusive(member):
    pk = shell(member)["id"]
    created = Command.objects.get(pk=pk).created_at
    client = qubole(member)
    day = created.strftime("%Y-%m-%d")
    for query in (f"start_date={day}&end_date={day}",
                  f"start_date={created:%Y-%m-%dT%H:%M:00}"):
        assert [c["id"] for c in client.get(f"/api/v1.2/commands?{query}").json()[
            "commands"]] == [pk]


def test_logs_are_two_queries_on_a_warm_process(member, warm_process,
                                                django_assert_num_queries):
    pk = shell(member)["id"]
    warm_process(member)
    with django_assert_num_queries(2):  # the row, then the log chunks
        assert qubole(member).get(f"/api/v1.2/commands/{pk}/logs").status_code == 200


@pytest.mark.parametrize("kind,args,body_key", [
    ("ShellCommand", ["--script", "echo $x$", "--tags", "a,b", "--name", "n"], "inline"),
    ("PrestoCommand", ["--query", "select 1", "--cluster-label", "default"], "query"),
    ("HiveCommand", ["--query", "select 1", "--macros", '[{"x": "1"}]'], "query"),
    ("SqlCommand", ["--query", "select 1", "--notify"], "query"),
    ("SparkCommand", ["--sql", "select 1"], "sql"),
    ("DbTapQueryCommand", ["--db_tap_id", "{source}", "--query", "select 1"], "query"),
])
def test_what_the_cli_parses_is_accepted_with_all_its_nulls(member, kind, args, body_key):
    """The body qds.py sends: the SDK's own parser's options, print_* popped as qds.py does,
    tags split as Command.create does."""
    import warnings

    warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
    from qds_sdk import commands as sdk

    from jobs.models import DataSource

    source = DataSource.objects.default_for(member.account).pk
    options = getattr(sdk, kind).parse([a.replace("{source}", str(source)) for a in args])
    for key in ("print_logs", "print_logs_live"):
        options.pop(key, None)
    if options.get("tags") is not None:
        options["tags"] = options["tags"].split(",")
    response = qubole(member).post("/api/v1.2/commands", options, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["command_type"] == kind
    assert body["command"][body_key] in ("select 1", "echo $x$")
    if kind == "DbTapQueryCommand":
        assert body["command"]["db_tap_id"] == source


def test_the_schema_documents_quboles_error_object_for_its_paths(client):
    schema = client.get("/api/schema/?format=json").json()
    detail = schema["paths"]["/api/v1.2/commands/{id}"]["get"]["responses"]
    assert set(detail) == {"200", "401", "403", "404", "422", "429"}
    assert detail["404"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/QuboleError"}}}
    documented = schema["components"]["schemas"]["QuboleCommand"]["properties"]
    assert set(SEED_FIELDS) <= set(documented)
    portal = schema["paths"]["/api/v1/commands/{id}/"]["get"]["responses"]["404"]
    assert "application/problem+json" in portal["content"]


def test_a_sql_label_naming_a_data_source_picks_it_and_any_other_is_a_queue(member, admin):
    from jobs.models import DataSource, Engine

    warehouse = DataSource.objects.create(account=member.account, name="warehouse",
                                          engine=Engine.SQLITE, target="/nonexistent.db",
                                          created_by=admin.user)
    client = qubole(member)
    picked = client.post("/api/v1.2/commands", {"command_type": "HiveCommand",
                                                "query": "select 1", "label": "warehouse"},
                         format="json").json()
    command = Command.objects.get(pk=picked["id"])
    assert (command.data_source_id, command.label, picked["label"]) == (
        warehouse.pk, "default", "warehouse")
    queued = client.post("/api/v1.2/commands", {"command_type": "HiveCommand",
                                                "query": "select 1", "label": "gpu"},
                         format="json").json()
    command = Command.objects.get(pk=queued["id"])
    assert (command.label, command.data_source.name, queued["label"]) == (
        "gpu", "default", "gpu")
    shell_label = shell(member, label="gpu")
    assert Command.objects.get(pk=shell_label["id"]).label == "gpu"


def test_the_type_filter_finds_sql_commands_by_the_type_they_show(member):
    portal = lifecycle.submit(account=member.account, user=member.user, source="api",
                              command_type="sql", query="select 1")
    presto = qubole(member).post("/api/v1.2/commands", {
        "command_type": "PrestoCommand", "query": "select 2", "label": "default"},
        format="json").json()["id"]
    client = qubole(member)

    def found(kind):
        listed = client.get(f"/api/v1.2/commands?command_type={kind}").json()["commands"]
        return {c["id"]: c["command_type"] for c in listed}

    # Submitted elsewhere (the portal API, a page, a schedule), a SQL command is a SqlCommand.
    assert found("SqlCommand") == {portal.pk: "SqlCommand"}
    assert found("PrestoCommand") == {presto: "PrestoCommand"}
    assert found("HiveCommand") == {}
