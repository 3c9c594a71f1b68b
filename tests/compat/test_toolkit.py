"""The analytics-toolkit shape in this process: save, run, job status, errors, access and query
counts. SQL runs here with the real supervisor (jobs.worker.run); the flow over HTTP against a
live server with a worker is in test_toolkit_live.py."""

import pytest

from jobs import lifecycle
from jobs.models import Command, SavedQuery
from jobs.worker import run as worker_run
from tests.jobs.factories import submit_shell
from tests.jobs.test_sql_support import csv_bytes, upload, use_media_root

SALES = [("North", 48320.5), ("South", 31205.0), ("North", 100.0)]
TOTALS = ("SELECT region, sum(revenue) AS total_revenue FROM sales WHERE revenue >= :least "
          "GROUP BY region ORDER BY region")


def key(actor):
    """A client that authenticates as the toolkit's clients do: X-API-Key."""
    actor.client.credentials(HTTP_X_API_KEY=actor.token)
    return actor.client


@pytest.fixture
def sales(member, settings, tmp_path):
    use_media_root(settings, tmp_path)
    response = upload(member, "sales", "sales.csv", csv_bytes(["region", "revenue"], SALES))
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def save(actor, sales, **overrides):
    body = {"name": "totals", "query": TOTALS, "dataset_id": f"dset_{sales}",
            "parameters": [{"name": "least", "type": "number", "default": 0}], **overrides}
    return key(actor).post("/v1/save", body, format="json")


@pytest.fixture
def query_id(member, sales):
    response = save(member, sales)
    assert response.status_code == 201, response.json()
    return response.json()["query_id"]


def run(actor, query_id, **body):
    return key(actor).post(f"/v1/query/{query_id}", body, format="json")


def job(actor, job_id, **params):
    return key(actor).get(f"/v1/jobs/{job_id}", params)


def run_here(job_id):
    worker_run.run_command(int(job_id.removeprefix("job_")))


def test_save_answers_a_query_id_for_the_dataset(member, sales):
    response = save(member, sales)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["query_id"].startswith("qry_") and body["dataset_id"] == f"dset_{sales}"
    saved = SavedQuery.objects.get(pk=int(body["query_id"][4:]))
    assert (saved.sql, saved.dataset_id, saved.created_by) == (TOTALS, sales, member.user)


def test_an_async_run_is_a_job_that_succeeds_with_typed_rows(member, query_id, sales):
    response = run(member, query_id, execution_mode="async", parameters={"least": 1000})
    assert response.status_code == 202, response.json()
    queued = response.json()
    assert (queued["status"], queued["results"], queued["error"]) == ("queued", None, None)
    assert response["Location"] == f"/v1/jobs/{queued['job_id']}"
    run_here(queued["job_id"])

    done = job(member, queued["job_id"]).json()
    assert (done["status"], done["progress"], done["error"]) == ("succeeded", 100, None)
    assert (done["query_id"], done["dataset_id"]) == (query_id, f"dset_{sales}")
    assert done["results"] == {"columns": ["region", "total_revenue"],
                               "rows": [["North", 48320.5], ["South", 31205.0]], "row_count": 2}
    for name in ("created_at", "completed_at"):
        assert done[name].endswith("Z") and len(done[name]) == 20


def test_a_sync_run_that_does_not_end_in_time_says_where_to_poll(member, query_id):
    response = run(member, query_id, wait_seconds=0)
    assert response.status_code == 202
    assert "poll GET /v1/jobs/job_" in response.json()["message"]


def test_a_failed_job_has_a_readable_error_and_no_results(member, sales):
    query_id = save(member, sales, name="broken", query="SELECT nope FROM sales",
                    parameters=[]).json()["query_id"]
    job_id = run(member, query_id, execution_mode="async").json()["job_id"]
    run_here(job_id)
    body = job(member, job_id).json()
    assert (body["status"], body["results"]) == ("failed", None)
    assert "nope" in body["error"] and "Traceback" not in body["error"]


def test_the_idempotency_key_answers_the_same_job(member, query_id):
    first = key(member).post(f"/v1/query/{query_id}", {"execution_mode": "async"},
                             format="json", HTTP_IDEMPOTENCY_KEY="run-1")
    again = key(member).post(f"/v1/query/{query_id}", {"execution_mode": "async"},
                             format="json", HTTP_IDEMPOTENCY_KEY="run-1")
    assert first.json()["job_id"] == again.json()["job_id"]
    other = key(member).post(f"/v1/query/{query_id}", {"execution_mode": "async",
                                                       "parameters": {"least": 5}},
                             format="json", HTTP_IDEMPOTENCY_KEY="run-1")
    assert other.status_code == 409


def test_results_page_with_offset_and_limit(member, query_id):
    job_id = run(member, query_id, execution_mode="async").json()["job_id"]
    run_here(job_id)
    body = job(member, job_id, offset=1, limit=1).json()["results"]
    assert (body["rows"], body["row_count"]) == ([["South", 31205.0]], 2)


@pytest.mark.parametrize(("body", "field"), [
    ({"query": "SELECT :undeclared"}, "undeclared"),
    ({"query": 5}, "query"),
    ({"dataset_id": "dset_999999"}, "dataset_id"),
    ({"dataset_id": "sales"}, "dataset_id"),
    ({"name": ""}, "name"),
    ({"parameters": "nope"}, "parameters"),
])
def test_bad_saves_are_400_naming_the_field(member, sales, body, field):
    response = save(member, sales, **body)
    assert response.status_code == 400, response.json()
    assert field in str(response.json()["errors"])
    assert not SavedQuery.objects.exists()


def test_a_second_save_of_the_same_name_is_400(member, sales, query_id):
    assert save(member, sales).status_code == 400


@pytest.mark.parametrize(("body", "field"), [
    ({"execution_mode": "later"}, "execution_mode"),
    ({"parameters": {"least": "lots"}}, "least"),
    ({"parameters": {"unknown": 1}}, "unknown"),
    ({"wait_seconds": -1}, "wait_seconds"),
])
def test_bad_runs_are_400_naming_the_field(member, query_id, body, field):
    response = run(member, query_id, **body)
    assert response.status_code == 400, response.json()
    assert field in str(response.json()["errors"])
    assert not Command.objects.exists()


@pytest.mark.parametrize("job_id", ["job_999999", "job_x", "12", "job_" + "9" * 40, "qry_1"])
def test_unknown_or_malformed_job_ids_are_404(member, job_id):
    assert job(member, job_id).status_code == 404


def test_a_shell_command_is_not_a_toolkit_job(member):
    assert job(member, f"job_{submit_shell(member).pk}").status_code == 404


def test_four_actors(actors, sales):
    query_id = save(actors["member"], sales).json()["query_id"]
    job_id = run(actors["member"], query_id, execution_mode="async").json()["job_id"]
    for name in ("admin", "member", "reader"):
        assert job(actors[name], job_id).status_code == 200, name
    outsider = actors["outsider"]
    assert job(outsider, job_id).status_code == 404
    assert run(outsider, query_id).status_code == 404
    assert save(outsider, sales, name="theirs").status_code == 400  # not their dataset
    assert run(actors["reader"], query_id).status_code == 403
    assert save(actors["reader"], sales, name="reader's").status_code == 403
    assert run(actors["admin"], query_id, execution_mode="async").status_code == 202


def test_without_a_key_it_is_401(db, anonymous):
    response = anonymous.get("/v1/jobs/job_1")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "X-RateLimit-Limit" in response


def test_a_preflight_is_answered_without_a_credential(anonymous):
    response = anonymous.options("/v1/query/qry_1")
    assert response.status_code == 204
    assert "X-API-Key" in response["Access-Control-Allow-Headers"]


def test_job_status_costs_one_query_on_a_warm_process(member, query_id, sales, warm_process,
                                                      django_assert_num_queries):
    job_id = run(member, query_id, execution_mode="async").json()["job_id"]
    warm_process(member)
    key(member)
    with django_assert_num_queries(1):  # the command with its saved query's dataset
        body = job(member, job_id).json()
    assert body["dataset_id"] == f"dset_{sales}"


@pytest.mark.parametrize("params", [{"offset": "9" * 30}, {"offset": "-1"}, {"limit": "0"},
                                    {"limit": "x"}])
def test_hostile_job_pages_are_400(member, query_id, params):
    job_id = run(member, query_id, execution_mode="async").json()["job_id"]
    assert job(member, job_id, **params).status_code == 400


@pytest.mark.parametrize("body", [
    "[1]", "{", '{"parameters": ' + "[" * 100 + "]" * 100 + "}",
    '{"parameters": {"least": "\\u0000"}}', '{"execution_mode": ["sync"]}',
    '{"parameters": {"least": 1e999}}',
])
def test_hostile_run_bodies_are_4xx_and_submit_nothing(member, query_id, body):
    response = key(member).post(f"/v1/query/{query_id}", body, content_type="application/json")
    assert 400 <= response.status_code < 500, response.content
    assert not Command.objects.exists()


def test_an_oversized_save_is_413(member, sales, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = save(member, sales, query="SELECT 1 -- " + "x" * 2000)
    assert response.status_code == 413
    assert not SavedQuery.objects.exists()


def test_a_cancelled_job_is_failed_with_a_readable_error(member, query_id):
    job_id = run(member, query_id, execution_mode="async").json()["job_id"]
    lifecycle.cancel(Command.objects.get(pk=int(job_id[4:])))
    body = job(member, job_id).json()
    assert (body["status"], body["error"], body["results"]) == (
        "failed", "Cancelled before it finished.", None)
    assert body["completed_at"].endswith("Z")


def test_a_malformed_idempotency_key_is_400_naming_it(member, query_id):
    response = key(member).post(f"/v1/query/{query_id}", {"execution_mode": "async"},
                                format="json", HTTP_IDEMPOTENCY_KEY="has spaces")
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]
    assert not Command.objects.exists()
