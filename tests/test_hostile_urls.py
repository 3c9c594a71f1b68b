"""Hostile query strings answer 400 problems naming the parameter, never 404 or 500: cursors
that are too long, not ours, or point at positions no column holds; offsets past 64 bits."""

import base64

import pytest

from jobs.worker import run as worker_run
from tests.jobs.factories import submit_shell
from tests.jobs.test_sql_support import submit_sql, submitted, use_media_root

LISTS = ["/api/v1/commands/", "/api/v1/data-sources/", "/api/v1/datasets/",
         "/api/v1/saved-queries/", "/api/v1/schedules/"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    use_media_root(settings, tmp_path)


def cursor_of(text):
    return base64.b64encode(text.encode()).decode()


def refused(response, parameter):
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    assert list(response.json()["errors"]) == [parameter]
    return response.json()["errors"][parameter][0]


@pytest.fixture
def done_sql(member):
    pk = submitted(submit_sql(member, "SELECT 1 AS n"))
    worker_run.run_command(pk)
    return pk


@pytest.mark.parametrize("url", LISTS)
def test_a_cursor_longer_than_1024_characters_is_a_400_on_every_list(member, url):
    message = refused(member.client.get(url, {"cursor": "A" * 5000}), "cursor")
    assert "1024 characters" in message


def test_a_cursor_longer_than_1024_characters_is_a_400_on_results(member, done_sql):
    url = f"/api/v1/commands/{done_sql}/results/"
    assert "1024" in refused(member.client.get(url, {"cursor": "A" * 5000}), "cursor")


@pytest.mark.parametrize(("url", "cursor"), [
    ("/api/v1/commands/", "!!not base64!!"),
    ("/api/v1/commands/", cursor_of("p=abc")),  # text where an id goes
    ("/api/v1/commands/", cursor_of("p=" + "9" * 40)),  # past 64 bits
    ("/api/v1/data-sources/", cursor_of("p=a\x00")),  # PostgreSQL text cannot hold a NUL
    ("/api/v1/saved-queries/", cursor_of("p=\x00&r=1")),
])
def test_a_cursor_that_is_not_ours_is_a_400_naming_it(member, url, cursor):
    submit_shell(member)
    assert refused(member.client.get(url, {"cursor": cursor}), "cursor") == (
        "Not a cursor of this list.")


def test_the_cursors_the_api_hands_out_still_page(member):
    for _ in range(3):
        submit_shell(member)
    first = member.client.get("/api/v1/commands/", {"page_size": 2}).json()
    second = member.client.get(first["next"]).json()
    assert len(first["results"]) + len(second["results"]) == 3


@pytest.mark.parametrize("params", [
    {"cursor": cursor_of("row:" + "9" * 30)}, {"offset_start": "9" * 30},
    {"offset_end": "9" * 30}, {"page_size": "9" * 30},
])
def test_result_offsets_past_64_bits_are_a_400_naming_them(member, done_sql, params):
    message = refused(member.client.get(f"/api/v1/commands/{done_sql}/results/", params),
                      *params)
    assert message == ("Not a cursor of this result." if "cursor" in params
                       else f"At most {2**63 - 1}.")


@pytest.mark.parametrize("parameter", ["offset", "limit"])
def test_log_offsets_past_64_bits_are_a_400_naming_them(member, parameter):
    pk = submit_shell(member).pk
    response = member.client.get(f"/api/v1/commands/{pk}/logs/", {parameter: "9" * 30})
    assert refused(response, parameter) == f"At most {2**63 - 1}."
