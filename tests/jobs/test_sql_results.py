"""Stored results: pages by inclusive row range and by cursor, streamed downloads, 409 before
the end. Results are produced by the real SQL runner: in a worker process for the 200,000-row
case, in this process (``jobs.worker.run.run_command``) where only the reading side is
under test."""

import csv
import io
import json

import pytest
from django.db import connection

from jobs import lifecycle, results
from jobs.models import Command, ResultChunk, Status
from jobs.worker import run as worker_run
from tests.jobs.test_indexes import fresh_statistics
from tests.jobs.test_sql_support import (
    page,
    rows_of,
    run_queued,
    submit_sql,
    submitted,
    use_media_root,
)

RANGE = "SELECT range AS n, 'row ' || range AS label FROM range({n})"


def run_here(actor, query, **body):
    """Submit through the API and run it in this process with the real supervisor."""
    pk = submitted(submit_sql(actor, query, **body))
    worker_run.run_command(pk)
    return Command.objects.get(pk=pk)


def expected(first, last):
    return [[n, f"row {n}"] for n in range(first, last + 1)]


def download(actor, pk, fmt):
    response = actor.client.get(f"/api/v1/commands/{pk}/results/download/", {"format": fmt})
    assert response.status_code == 200, response
    assert response.streaming
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def chunk_rows(settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "RESULT_CHUNK_ROWS": 97}
    return 97


@pytest.mark.slow
def test_a_200000_row_result_pages_exactly_and_downloads_agree(member, start_worker, settings,
                                                               tmp_path):
    env = {**use_media_root(settings, tmp_path), "JOBPORTAL_RESULT_CHUNK_ROWS": "777"}
    pk = submitted(submit_sql(member, RANGE.format(n=200_000) + " ORDER BY n"))
    run_queued(start_worker, env)

    command = Command.objects.get(pk=pk)
    assert (command.status, command.result_row_count, command.result_truncated) == (
        Status.DONE, 200_000, False)
    assert ResultChunk.objects.filter(command_id=pk).count() == -(-200_000 // 777)
    for first, last in [(0, 0), (0, 776), (776, 777), (1554, 3000), (123_456, 133_455),
                        (199_990, 199_999)]:
        body = page(member, pk, offset_start=first, offset_end=last).json()
        assert body["rows"] == expected(first, last), (first, last)
        assert (body["offset_start"], body["offset_end"]) == (first, last)
    past_the_end = page(member, pk, offset_start=199_995, offset_end=250_000).json()
    assert past_the_end["rows"] == expected(199_995, 199_999)
    assert past_the_end["next_offset"] is None

    as_csv = list(csv.reader(io.StringIO(download(member, pk, "csv"))))
    as_json = json.loads(download(member, pk, "json"))
    as_ndjson = [json.loads(line) for line in download(member, pk, "ndjson").splitlines()]
    assert as_csv[0] == ["n", "label"]
    assert as_json["row_count"] == len(as_json["rows"]) == len(as_csv) - 1 == 200_000
    assert [[str(v) for v in row] for row in as_json["rows"]] == as_csv[1:]
    assert [[row["n"], row["label"]] for row in as_ndjson] == as_json["rows"]


def test_a_page_costs_the_same_at_any_offset(member, chunk_rows, warm_process,
                                              django_assert_num_queries):
    command = run_here(member, RANGE.format(n=20_000))
    assert ResultChunk.objects.filter(command=command).count() > 200
    warm_process(member)

    with django_assert_num_queries(2):  # the command, its chunks
        first = page(member, command.pk, offset_start=0, offset_end=99)
    with django_assert_num_queries(2):  # the command, its chunks
        deep = page(member, command.pk, offset_start=19_850, offset_end=19_949)
    assert first.json()["rows"] == expected(0, 99)
    assert deep.json()["rows"] == expected(19_850, 19_949)


def test_the_end_offset_is_inclusive_and_a_page_is_capped(member, chunk_rows):
    command = run_here(member, RANGE.format(n=30_000))

    assert rows_of(member, command.pk, offset_start=5, offset_end=5) == [[5, "row 5"]]
    body = page(member, command.pk).json()
    assert (len(body["rows"]), body["offset_end"], body["next_offset"]) == (1000, 999, 1000)
    capped = page(member, command.pk, offset_start=10, offset_end=29_999).json()
    assert (len(capped["rows"]), capped["offset_end"]) == (10_000, 10_009)
    empty = page(member, command.pk, offset_start=40_000).json()
    assert (empty["rows"], empty["offset_end"], empty["row_count"]) == ([], None, 30_000)


def test_cursor_pages_walk_the_whole_result_without_gaps(member, chunk_rows):
    command = run_here(member, RANGE.format(n=2_500))
    seen, body = [], page(member, command.pk, cursor="", page_size=700).json()
    seen.extend(body["rows"])
    while body["next"]:
        body = member.client.get(body["next"]).json()
        assert len(body["rows"]) <= 700
        seen.extend(body["rows"])
    assert seen == expected(0, 2_499)


@pytest.mark.parametrize("params", [
    {"offset_start": 10, "offset_end": 9}, {"offset_start": -1}, {"offset_end": "x"},
    {"cursor": "bm90LWEtY3Vyc29y"}, {"cursor": "!!"},
])
def test_bad_ranges_and_cursors_are_400_naming_the_parameter(member, params):
    command = run_here(member, "SELECT 1")
    response = page(member, command.pk, **params)
    assert response.status_code == 400
    assert set(response.json()["errors"]) <= {"offset_start", "offset_end", "cursor"}


def test_a_result_cut_at_the_row_limit_says_truncated(member, settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "MAX_RESULT_ROWS": 50}
    command = run_here(member, RANGE.format(n=1_000))

    assert (command.status, command.result_row_count, command.result_truncated) == (
        Status.DONE, 50, True)
    body = page(member, command.pk).json()
    assert (len(body["rows"]), body["row_count"], body["truncated"]) == (50, 50, True)
    response = member.client.get(f"/api/v1/commands/{command.pk}/results/download/")
    assert response["X-Result-Truncated"] == "true"
    assert len(b"".join(response.streaming_content).splitlines()) == 51


def test_downloads_write_nulls_booleans_and_nested_values_plainly(member):
    command = run_here(member, "SELECT NULL AS a, true AS b, [1, 2] AS c, 'x,y' AS d, "
                               "2.5 AS a")
    csv_text = download(member, command.pk, "csv")
    assert list(csv.reader(io.StringIO(csv_text))) == [
        ["a", "b", "c", "d", "a"], ["", "true", "[1, 2]", "x,y", "2.5"]]
    assert json.loads(download(member, command.pk, "ndjson")) == {
        "a": None, "b": True, "c": [1, 2], "d": "x,y", "a_2": 2.5}
    response = member.client.get(f"/api/v1/commands/{command.pk}/results/download/",
                                 HTTP_ACCEPT="application/x-ndjson")
    assert response["Content-Type"] == "application/x-ndjson"


def test_results_of_an_unfinished_command_are_a_409_problem(member):
    pk = submitted(submit_sql(member, "SELECT 1"))
    waiting_or_queued = page(member, pk)
    lifecycle.claim(pk, lifecycle.WorkerIdentity("w-1", "n", "h", None))
    while_running = page(member, pk)
    download_while_running = member.client.get(f"/api/v1/commands/{pk}/results/download/",
                                               {"format": "csv"})

    for response in (waiting_or_queued, while_running, download_while_running):
        assert response.status_code == 409
        assert response["Content-Type"] == "application/problem+json"
        assert "no result" in json.loads(response.content)["detail"]


def test_a_failed_query_leaves_no_result_behind(member):
    command = run_here(member, "SELECT 1; SELECT * FROM no_such_table")
    assert (command.status, command.error_type) == (Status.ERROR, "QueryError")
    assert not ResultChunk.objects.filter(command=command).exists()
    assert page(member, command.pk).status_code == 409


@pytest.mark.parametrize(("who", "status"), [
    ("admin", 200), ("member", 200), ("reader", 200), ("outsider", 404)])
def test_results_are_readable_by_whoever_may_read_the_command(actors, who, status):
    command = run_here(actors["member"], "SELECT 7 AS seven")
    assert page(actors[who], command.pk).status_code == status
    download_status = actors[who].client.get(
        f"/api/v1/commands/{command.pk}/results/download/").status_code
    assert download_status == status


def test_a_page_is_read_through_the_command_row_start_index(member, chunk_rows):
    command = run_here(member, RANGE.format(n=2_000))
    fresh_statistics("jobs_resultchunk")
    sql, params = results.page_chunks(command.pk, 1_500, 1_599).query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Tiny test tables always favour a sequential scan; forbidding it shows whether
            # the index can serve the query.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
    assert "resultchunk_command_row" in plan, plan
    assert "SCAN jobs_resultchunk" not in plan and "Seq Scan" not in plan, plan


def test_an_asgi_server_reads_a_download_one_piece_at_a_time():
    from asgiref.sync import async_to_sync

    from jobs.api.results import PiecewiseStreamingResponse

    taken = []

    def pieces():
        for n in range(1000):
            taken.append(n)
            yield f"piece {n}\n"

    async def first_two(response):
        parts = aiter(response)
        return [await anext(parts), await anext(parts)]

    response = PiecewiseStreamingResponse(pieces())
    assert async_to_sync(first_two)(response) == [b"piece 0\n", b"piece 1\n"]
    assert len(taken) == 2  # not the whole result in memory first
