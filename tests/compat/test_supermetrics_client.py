"""The official ``supermetrics`` client (PyPI, unchanged) against a live portal with a worker:
start a saved query, poll it to SUCCESS, page its rows; a synchronous start; its errors for
401, 404 and 429."""

import httpx
import pytest
from supermetrics import SupermetricsClient
from supermetrics.exceptions import (
    SupermetricsAuthError,
    SupermetricsNotFoundError,
    SupermetricsRateLimitError,
)

from tests.live import Site, poll, stop

pytestmark = pytest.mark.slow

ROWS = [(day, region, revenue) for day, region, revenue in [
    ("2026-01-03", "North", 10.5), ("2026-01-09", "South", 4.0), ("2026-01-20", "North", 1.5),
    ("2026-02-02", "North", 99.0)]]
SQL = ("SELECT region, sum(revenue) AS revenue, count(*) AS days FROM sales "
       "WHERE day BETWEEN CAST(:start_date AS DATE) AND CAST(:end_date AS DATE) "
       "GROUP BY region ORDER BY region")


@pytest.fixture
def site(tmp_path):
    site = Site(tmp_path)
    serve = site.serve()
    csv = "day,region,revenue\n" + "".join(f"{d},{r},{v}\n" for d, r, v in ROWS)
    uploaded = site.api("POST", "datasets/", data={"name": "sales"},
                        files={"file": ("sales.csv", csv.encode())})
    assert uploaded.status_code == 201, uploaded.text
    saved = site.api("POST", "saved-queries/", json={
        "name": "revenue_by_region", "sql": SQL,
        "parameters": [{"name": "start_date", "type": "date"},
                       {"name": "end_date", "type": "date"}]})
    assert saved.status_code == 201, saved.text
    site.saved_query = saved.json()["id"]
    yield site
    stop(serve)


def execute(client, site, **kwargs):
    return client.queries.execute(ds_id=f"qry_{site.saved_query}", ds_accounts=["acme"],
                                  fields=["region", "revenue"], start_date="2026-01-01",
                                  end_date="2026-01-31", **kwargs)


def test_the_official_client_starts_polls_and_pages_a_saved_query(site):
    client = SupermetricsClient(api_key=site.token, base_url=site.url)
    started = execute(client, site, schedule_id="january", sync_timeout=0)
    assert started.meta.schedule_id == "january"
    assert started.meta.status_code in ("SCHEDULED", "QUEUED", "RUNNING", "SUCCESS")

    done = poll(lambda: (r := client.queries.get_results(query_id=started.meta.request_id))
                and r.meta.status_code == "SUCCESS" and r)
    assert done.data == [["North", 12.0, 2], ["South", 4.0, 1]]
    assert [f.field_name for f in done.meta.query.fields] == ["region", "revenue", "days"]
    assert done.meta.result.total_rows == 2

    # Pages: the same query again (same schedule id and definition) with offsets, inclusive.
    second = execute(client, site, schedule_id="january", offset_start=1, offset_end=1)
    assert (second.meta.schedule_id, second.data) == ("january", [["South", 4.0, 1]])
    past = execute(client, site, schedule_id="january", offset_start=2)
    assert past.data == []

    # The seed's status endpoint, read with plain HTTP.
    status = httpx.get(f"{site.url}/query/status", headers=site.headers,
                       params={"json": '{"schedule_id": "january", "offset_end": 0}'})
    assert status.json()["data"] == [{"region": "North", "revenue": 12.0, "days": 2}]
    assert status.headers["Access-Control-Allow-Origin"] == "*"


def test_a_synchronous_start_answers_the_data_when_it_ends_in_time(site):
    client = SupermetricsClient(api_key=site.token, base_url=site.url)
    done = execute(client, site, sync_timeout=30)
    assert done.meta.status_code == "SUCCESS"
    assert done.data == [["North", 12.0, 2], ["South", 4.0, 1]]


def test_the_clients_errors_for_401_404_and_429(site):
    with pytest.raises(SupermetricsAuthError) as denied:
        execute(SupermetricsClient(api_key="not-a-token", base_url=site.url), site)
    assert denied.value.status_code == 401
    assert denied.value.headers["WWW-Authenticate"].startswith("Bearer")

    client = SupermetricsClient(api_key=site.token, base_url=site.url)
    with pytest.raises(SupermetricsNotFoundError) as missing:
        client.queries.get_results(query_id="no-such-query")
    assert missing.value.status_code == 404
    assert "X-RateLimit-Remaining" in missing.value.headers

    site.manage("shell", "-c", "from accounts.models import Account; "
                "Account.objects.update(api_rate_limit=1)")

    def limited():
        try:
            client.queries.get_results(query_id="no-such-query")
        except SupermetricsRateLimitError as exc:
            return exc
        except SupermetricsNotFoundError:
            return None  # the web process still trusts what it read (JOBPORTAL_ACCESS_CACHE)

    throttled = poll(limited, timeout=30)
    assert throttled.status_code == 429
    assert 1 <= throttled.retry_after <= 3600
    assert throttled.headers["X-RateLimit-Remaining"] == "0"
