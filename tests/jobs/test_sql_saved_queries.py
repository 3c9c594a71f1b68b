"""Saved queries: a checked parameter schema, a version bumped on every edit, runs whose
parameters are typed against the schema (a missing or mistyped one is a 400 naming it), and
access against all four actors."""

import pytest

from jobs.models import Command, SavedQuery

SQL = "SELECT * FROM sales WHERE region = :region AND amount >= :min AND day <= :until"
SCHEMA = [
    {"name": "region", "type": "string"},
    {"name": "min", "type": "integer", "default": 0},
    {"name": "until", "type": "date", "required": False},
]


@pytest.fixture
def saved(admin):
    return SavedQuery.objects.create(account=admin.account, name="by_region", sql=SQL,
                                     parameters=SCHEMA, created_by=admin.user)


def run(actor, saved, **body):
    return actor.client.post(f"/api/v1/saved-queries/{saved.pk}/run/", body, format="json")


def test_a_saved_query_is_created_with_a_normalised_schema(member):
    response = member.client.post("/api/v1/saved-queries/", {
        "name": "q", "sql": SQL, "parameters": SCHEMA}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] == 1 and body["created_by"] == "member@acme.test"
    assert [(p["name"], p["required"]) for p in body["parameters"]] == [
        ("region", True), ("min", False), ("until", False)]


@pytest.mark.parametrize(("schema", "named"), [
    (SCHEMA[:2], "until"),  # used in the SQL, not declared
    ([*SCHEMA, {"name": "x", "type": "uuid"}], "x"),
    ([{**SCHEMA[0]}, {"name": "min", "type": "integer", "default": "ten"}, SCHEMA[2]], "min"),
    ([*SCHEMA, {"name": "region", "type": "string"}], "region"),
])
def test_a_bad_schema_is_a_400_naming_the_parameter(member, schema, named):
    response = member.client.post("/api/v1/saved-queries/", {
        "name": "q", "sql": SQL, "parameters": schema}, format="json")
    assert response.status_code == 400
    assert [m.split(":")[0] for m in response.json()["errors"]["parameters"]] == [named]


def test_every_edit_bumps_the_version(admin, saved):
    url = f"/api/v1/saved-queries/{saved.pk}/"
    assert admin.client.patch(url, {"description": "x"}, format="json").json()["version"] == 2
    body = admin.client.patch(url, {"sql": SQL + " ORDER BY 1"}, format="json").json()
    assert body["version"] == 3 and body["updated_by"] == "admin@acme.test"


def test_a_run_records_the_version_and_the_typed_values(member, saved):
    saved.edit(None, description="edited")
    response = run(member, saved, parameters={"region": "north", "min": "5"})

    assert response.status_code == 201, response.json()
    command = Command.objects.get(pk=response.json()["id"])
    assert (command.saved_query_id, command.saved_query_version) == (saved.pk, 2)
    assert command.query == SQL and command.name == "by_region"
    assert command.parameters == {"region": "north", "min": 5, "until": None}


def test_a_saved_query_runs_through_the_commands_endpoint_too(member, saved):
    response = member.client.post("/api/v1/commands/", {
        "command_type": "sql", "saved_query": saved.pk,
        "parameters": {"region": "south", "until": "2024-02-01"}}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["saved_query_version"] == 1
    assert response.json()["parameters"] == {"region": "south", "min": 0,
                                             "until": "2024-02-01"}


@pytest.mark.parametrize(("parameters", "named", "message"), [
    ({}, "region", "is required"),
    ({"region": "n", "min": "ten"}, "min", "must be an integer"),
    ({"region": "n", "min": True}, "min", "must be an integer"),
    ({"region": 7}, "region", "must be a string"),
    ({"region": "n", "until": "yesterday"}, "until", "must be a date"),
    ({"region": "n", "regoin": "s"}, "regoin", "is not a parameter"),
])
def test_a_missing_mistyped_or_unknown_parameter_is_a_400_naming_it(member, saved, parameters,
                                                                    named, message):
    response = run(member, saved, parameters=parameters)
    assert response.status_code == 400
    (error,) = response.json()["errors"]["parameters"]
    assert error.startswith(f"{named}: {message}")
    assert not Command.objects.exists()


def test_the_sql_of_a_saved_query_cannot_be_replaced_at_run_time(member, saved):
    response = member.client.post("/api/v1/commands/", {
        "command_type": "sql", "saved_query": saved.pk, "query": "SELECT 1",
        "parameters": {"region": "n"}}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["query"]


@pytest.mark.parametrize("ref", ["id", "digits", "name"])
def test_a_saved_query_is_named_by_id_or_by_name_like_a_data_source(member, saved, ref):
    value = {"id": saved.pk, "digits": str(saved.pk), "name": saved.name}[ref]
    response = member.client.post("/api/v1/commands/", {
        "command_type": "sql", "saved_query": value, "parameters": {"region": "n"}},
        format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["saved_query"] == saved.pk


@pytest.mark.parametrize("value", [0, -3, 2**70, "", True, "x" * 201, "no such query"])
def test_a_bad_or_unknown_saved_query_reference_is_a_400(member, saved, value):
    response = member.client.post("/api/v1/commands/", {
        "command_type": "sql", "saved_query": value}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["saved_query"]


def test_a_saved_query_of_another_account_is_a_400_through_commands(outsider, saved):
    response = outsider.client.post("/api/v1/commands/", {
        "command_type": "sql", "saved_query": saved.pk, "parameters": {"region": "n"}},
        format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["saved_query"]


SAVED_ACCESS = {  # list, detail, create, run, update, delete of the admin's saved query
    "admin": (200, 200, 201, 201, 200, 204),
    "member": (200, 200, 201, 201, 403, 403),
    "reader": (200, 200, 403, 403, 403, 403),
    "outsider": (200, 404, 201, 404, 404, 404),
}


@pytest.mark.parametrize("who", list(SAVED_ACCESS))
def test_saved_query_access(actors, saved, who):
    client, url = actors[who].client, f"/api/v1/saved-queries/{saved.pk}/"
    listed = client.get("/api/v1/saved-queries/")
    statuses = (
        listed.status_code, client.get(url).status_code,
        client.post("/api/v1/saved-queries/", {"name": f"mine_{who}", "sql": "SELECT 1"},
                    format="json").status_code,
        run(actors[who], saved, parameters={"region": "n"}).status_code,
        client.patch(url, {"description": "x"}, format="json").status_code,
        client.delete(url).status_code,
    )
    assert statuses == SAVED_ACCESS[who]
    names = {q["name"] for q in listed.json()["results"]}
    assert ("by_region" in names) == (who != "outsider")


def test_members_edit_their_own_saved_queries(member):
    created = member.client.post("/api/v1/saved-queries/", {"name": "mine", "sql": "SELECT 1"},
                                 format="json").json()
    url = f"/api/v1/saved-queries/{created['id']}/"
    assert member.client.patch(url, {"sql": "SELECT 2"}, format="json").status_code == 200
    assert member.client.delete(url).status_code == 204


def test_listing_saved_queries_takes_a_fixed_number_of_queries(admin, member, warm_process,
                                                               django_assert_num_queries):
    for n in range(10):
        SavedQuery.objects.create(account=admin.account, name=f"q{n}", sql="SELECT 1",
                                  created_by=member.user, updated_by=admin.user)
    warm_process(admin)
    with django_assert_num_queries(1):  # the page
        body = admin.client.get("/api/v1/saved-queries/").json()
    assert len(body["results"]) == 10
    named = admin.client.get("/api/v1/saved-queries/?name=Q3").json()["results"]
    assert [q["name"] for q in named] == ["q3"]
