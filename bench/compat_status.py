"""Figures of the Supermetrics and toolkit shapes for bench/status_endpoint.py (run there).

- ``supermetrics_status`` / ``toolkit_job``: the status endpoints of a finished SQL command
  with an empty result (the status without data) against the one-row floor, goal 0.7;
- ``supermetrics_far_page``: rows 990,000-999,999 of a 1,000,000-row result against rows
  0-9,999 of the same result, goal 0.5 (a far page within 2x the time of the first).
"""

import json
from urllib.parse import quote

NAMES = ("supermetrics_status", "toolkit_job", "supermetrics_far_page")


def _status_url(url, **fields):
    return f"{url}/query/status?json=" + quote(json.dumps(fields))


def compat_figures(portal, url, token, one_row, rps, figure, rounds, want, wait_status):
    """Measure the figures ``want(name)`` asks for, through ``figure`` (status_endpoint's)."""
    auth = {"Authorization": f"Bearer {token}"}
    if want("supermetrics_status") or want("toolkit_job"):
        pk = portal.submit_sql("SELECT 1 AS n WHERE false", "bench-empty")
        wait_status(portal, pk, "done")
        figure("supermetrics_status", rps(_status_url(url, schedule_id="bench-empty"), auth),
               one_row, 0.7, rounds, "one-row floor")
        figure("toolkit_job", rps(f"{url}/v1/jobs/job_{pk}", {"X-API-Key": token}), one_row,
               0.7, rounds, "one-row floor")
    if want("supermetrics_far_page"):
        pk = portal.submit_sql("SELECT range AS n, 'row ' || range AS label "
                               "FROM range(1000000) ORDER BY n", "bench-million")
        wait_status(portal, pk, "done", timeout=900)

        def page(first):
            return rps(_status_url(url, schedule_id="bench-million", offset_start=first,
                                   offset_end=first + 9_999), auth)

        figure("supermetrics_far_page", page(990_000), page(0), 0.5, rounds, "first page")
