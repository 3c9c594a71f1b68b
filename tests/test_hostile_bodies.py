"""Hostile request bodies answer 4xx problem details, never 500: bodies over the size limit
(413 naming it), JSON nested too deeply, NUL characters and non-finite numbers (400 naming
the field), too many form fields. Run on SQLite and PostgreSQL: a NUL that SQLite would store
is refused on both."""

import io
import json

import pytest

from accounts.models import Role
from jobportal import untrusted
from jobs.models import Command, Dataset, DataSource, SavedQuery
from tests.jobs.test_sql_support import upload, use_media_root

TEN_MIB = 10 * 1024**2


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    use_media_root(settings, tmp_path)


def problem_of(response, status):
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def post_json(actor, url, text):
    return actor.client.generic("POST", url, text, content_type="application/json")


def nested(depth, leaf="1"):
    """A JSON array text nested ``depth`` levels deep."""
    return "[" * depth + leaf + "]" * depth


# -- size ------------------------------------------------------------------------------------


def test_a_json_body_over_10_mib_answers_413_naming_the_limit(member):
    body = json.dumps({"command_type": "shell", "script": "x" * TEN_MIB})
    problem = problem_of(post_json(member, "/api/v1/commands/", body), 413)
    assert "10485760 bytes" in problem["detail"]
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in problem["detail"]
    assert problem["max_bytes"] == TEN_MIB
    assert not Command.objects.exists()


@pytest.mark.parametrize(("method", "url"), [
    ("POST", "/api/v1/commands/"), ("POST", "/api/v1/tokens/"), ("POST", "/api/v1/roles/"),
    ("POST", "/api/v1/saved-queries/"), ("PATCH", "/api/v1/data-sources/{source}/"),
    ("POST", "/api/v1/datasets/"), ("POST", "/api/v1/schedules/"),
])
@pytest.mark.parametrize("content_type", ["application/json",
                                          "application/x-www-form-urlencoded"])
def test_every_endpoint_answers_413_for_a_body_over_the_limit(admin, settings, method, url,
                                                              content_type):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    url = url.format(source=DataSource.objects.default_for(admin.account).pk)
    body = (json.dumps({"name": "x" * 2000}) if content_type == "application/json"
            else "name=" + "x" * 2000)
    response = admin.client.generic(method, url, body, content_type=content_type)
    assert "1000 bytes" in problem_of(response, 413)["detail"]


def test_multipart_fields_over_the_limit_answer_413(member, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = member.client.post("/api/v1/commands/", {
        "command_type": "shell", "script": "x" * 2000}, format="multipart")
    assert problem_of(response, 413)["max_bytes"] == 1000


def test_a_dataset_file_larger_than_the_body_limit_still_uploads(member, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    data = b"n\n" + b"123456789\n" * 20_000  # 200 KB: over the body limit, files do not count
    response = upload(member, "big", "big.csv", data)
    assert response.status_code == 201, response.json()
    assert response.json()["row_count"] == 20_000


def test_a_dataset_upload_far_over_the_dataset_limit_answers_413_unread(member, settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "MAX_DATASET_BYTES": 1000}
    handle = io.BytesIO(b"n\n" + b"1\n" * (600 * 1024))  # 1.2 MB > 1000 bytes + 1 MiB
    handle.name = "huge.csv"
    response = member.client.post("/api/v1/datasets/", {"name": "huge", "file": handle},
                                  format="multipart")
    problem = problem_of(response, 413)
    assert "JOBPORTAL_MAX_DATASET_BYTES" in problem["detail"]
    assert problem["max_bytes"] == 1000 + 1024**2
    assert not Dataset.objects.exists()


def test_more_form_fields_than_django_allows_is_a_400(member):
    body = "&".join(f"f{n}=1" for n in range(1200))
    response = member.client.generic("POST", "/api/v1/commands/", body,
                                     content_type="application/x-www-form-urlencoded")
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in problem_of(response, 400)["errors"][
        "non_field_errors"][0]


# -- nesting ---------------------------------------------------------------------------------

def with_field(payload, field, json_text):
    """The JSON text of ``payload`` plus ``field`` set to ``json_text`` as it is."""
    return json.dumps(payload)[:-1] + f', "{field}": {json_text}}}'


SHELL = {"command_type": "shell", "script": "true"}
DEEP_BODIES = {
    "metadata": ("/api/v1/commands/",
                 with_field(SHELL, "metadata", '{"a": ' + nested(5000) + "}")),
    "macros": ("/api/v1/commands/", with_field(SHELL, "macros", nested(5000))),
    "parameters": ("/api/v1/commands/", with_field(
        {"command_type": "sql", "query": "SELECT 1"}, "parameters", '{"p": ' + nested(40) + "}")),
    "policies": ("/api/v1/roles/", with_field({"name": "deep"}, "policies", (
        '[{"resource": "commands", "actions": ["read"], "conditions": {"own": '
        + nested(5000) + "}}]"))),
}


@pytest.mark.parametrize("field", list(DEEP_BODIES))
def test_json_nested_too_deeply_is_a_400_naming_the_field(admin, field):
    url, body = DEEP_BODIES[field]
    problem = problem_of(post_json(admin, url, body), 400)
    assert list(problem["errors"]) == [field]
    assert problem["errors"][field][0].startswith("Nested deeper than 32 levels at " + field)
    assert not Command.objects.exists() and not Role.objects.filter(name="deep").exists()


def test_a_deep_top_level_array_is_a_400_too(member):
    problem = problem_of(post_json(member, "/api/v1/commands/", nested(100_000)), 400)
    assert list(problem["errors"]) == ["non_field_errors"]


def test_deep_json_text_in_a_form_field_is_a_400_naming_it(member):
    response = member.client.post("/api/v1/commands/", {
        "command_type": "shell", "script": "true", "macros": nested(5000)})
    assert list(problem_of(response, 400)["errors"]) == ["macros"]


def test_32_levels_are_accepted_and_33_are_not():
    untrusted.check(json.loads(nested(32)))
    with pytest.raises(untrusted.UntrustedJSONError) as raised:
        untrusted.check({"a": json.loads(nested(32))})
    assert raised.value.describe() == "Nested deeper than 32 levels at a" + "[0]" * 31 + "."
    assert untrusted.deep_path('{"a": [0, {"b": ' + nested(40) + "}]}") == [
        "a", 1, "b", *[0] * 29]


# -- NUL characters and non-finite numbers ----------------------------------------------------

NUL_BODIES = {
    "metadata key": ("/api/v1/commands/", "metadata",
                     {"command_type": "shell", "script": "true", "metadata": {"k\x00": "v"}}),
    "metadata value": ("/api/v1/commands/", "metadata",
                       {"command_type": "shell", "script": "true", "metadata": {"k": "\x00"}}),
    "macros": ("/api/v1/commands/", "macros",
               {"command_type": "shell", "script": "echo $a$", "macros": {"a": "x\x00"}}),
    "SQL parameters": ("/api/v1/commands/", "parameters",
                       {"command_type": "sql", "query": "SELECT :a", "parameters": {"a": "\x00"}}),
    "saved-query default": ("/api/v1/saved-queries/", "parameters", {
        "name": "q", "sql": "SELECT :a",
        "parameters": [{"name": "a", "type": "string", "default": "x\x00"}]}),
    "policy conditions": ("/api/v1/roles/", "policies", {"name": "nul", "policies": [
        {"resource": "commands", "actions": ["read"],
         "conditions": {"command_types": ["shell\x00"]}}]}),
    "policy actions": ("/api/v1/roles/", "policies", {"name": "nul", "policies": [
        {"resource": "*", "actions": ["\x00"]}]}),
}


@pytest.mark.parametrize("case", list(NUL_BODIES))
def test_a_nul_character_is_a_400_naming_the_field_on_every_database(admin, case):
    url, field, payload = NUL_BODIES[case]
    problem = problem_of(admin.client.post(url, payload, format="json"), 400)
    assert list(problem["errors"]) == [field]
    assert "NUL characters" in problem["errors"][field][0]
    assert not Command.objects.exists() and not SavedQuery.objects.exists()
    assert not Role.objects.filter(name="nul").exists()


def test_a_nul_in_a_form_field_name_is_a_400_naming_the_field(member):
    response = member.client.generic(
        "POST", "/api/v1/commands/", "command_type=shell&script=true&metadata.k%00=v",
        content_type="application/x-www-form-urlencoded")
    assert list(problem_of(response, 400)["errors"]) == ["metadata"]


def test_a_nul_in_json_text_of_a_form_field_is_a_400_naming_it(member):
    response = member.client.post("/api/v1/commands/", {
        "command_type": "sql", "query": "SELECT :a", "parameters": '{"a": "\\u0000"}'})
    assert list(problem_of(response, 400)["errors"]) == ["parameters"]


def test_a_number_too_large_for_a_float_is_a_400_naming_the_field(member):
    body = '{"command_type": "sql", "query": "SELECT :a", "parameters": {"a": 1e999}}'
    problem = problem_of(post_json(member, "/api/v1/commands/", body), 400)
    assert problem["errors"] == {"parameters": ["Numbers must be finite at parameters.a."]}
