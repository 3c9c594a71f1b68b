"""The analytics toolkit's flow over HTTP (httpx, as the seed's example) against a live portal
with a worker: save, async run, poll, rows; a sync run; a failing query's readable error."""

import httpx
import pytest

from tests.live import Site, poll, stop

pytestmark = pytest.mark.slow


@pytest.fixture
def site(tmp_path):
    site = Site(tmp_path)
    serve = site.serve()
    csv = "region,revenue\nNorth,48320.50\nSouth,31205.00\nNorth,0.5\n"
    uploaded = site.api("POST", "datasets/", data={"name": "sales"},
                        files={"file": ("sales.csv", csv.encode())})
    assert uploaded.status_code == 201, uploaded.text
    site.dataset = f"dset_{uploaded.json()['id']}"
    site.key = {"X-API-Key": site.token}
    yield site
    stop(serve)


def call(site, method, path, **kwargs):
    return httpx.request(method, f"{site.url}{path}", headers=site.key, timeout=60, **kwargs)


def save(site, name, query, **extra):
    response = call(site, "POST", "/v1/save", json={"name": name, "query": query,
                                                    "dataset_id": site.dataset, **extra})
    assert response.status_code == 201, response.text
    return response.json()["query_id"]


def test_save_run_async_poll_and_read_the_rows(site):
    query_id = save(site, "revenue", "SELECT region, sum(revenue) AS total_revenue FROM sales "
                    "WHERE revenue > :floor GROUP BY region ORDER BY region",
                    parameters=[{"name": "floor", "type": "number", "default": 0}])
    started = call(site, "POST", f"/v1/query/{query_id}",
                   json={"execution_mode": "async", "parameters": {"floor": 1}})
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]
    assert job_id.startswith("job_")

    done = poll(lambda: (r := call(site, "GET", f"/v1/jobs/{job_id}").json())
                and r["status"] in ("succeeded", "failed") and r)
    assert done == {
        "job_id": job_id, "query_id": query_id, "dataset_id": site.dataset,
        "status": "succeeded", "progress": 100,
        "results": {"columns": ["region", "total_revenue"],
                    "rows": [["North", 48320.5], ["South", 31205.0]], "row_count": 2},
        "error": None, "created_at": done["created_at"], "completed_at": done["completed_at"],
    }
    assert done["created_at"] <= done["completed_at"] and done["completed_at"].endswith("Z")


def test_a_sync_run_answers_the_results_inline(site):
    query_id = save(site, "count", "SELECT count(*) AS n FROM sales")
    response = call(site, "POST", f"/v1/query/{query_id}", json={"execution_mode": "sync"})
    assert response.status_code == 200, response.text
    assert response.json()["results"]["rows"] == [[3]]


def test_a_failing_query_has_a_readable_error(site):
    query_id = save(site, "broken", "SELECT no_such_column FROM sales")
    response = call(site, "POST", f"/v1/query/{query_id}", json={"execution_mode": "sync"})
    body = response.json()
    assert (response.status_code, body["status"], body["results"]) == (200, "failed", None)
    assert "no_such_column" in body["error"]
    assert "Traceback" not in body["error"] and "File \"" not in body["error"]
