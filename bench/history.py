"""History at scale: the job history's pages over 1,000,000 commands of 100 accounts.

    .venv/bin/python bench/history.py --database-url postgresql://... [--quick] [--rows N]

PostgreSQL only (the loader writes the rows with one ``INSERT … SELECT generate_series``;
``ANALYZE`` follows). The bench account holds 1 % of the rows, like every other account; the
API and the HTML history page (signed in as the account's admin) read those, the operator in
the Django admin sees them all. Each page is requested ``--samples`` times, one request at a
time, from this process; the summary line is ``name p95_ms floor_p95_ms ratio target_ms``
where the floor is the plainest DRF view reading one row by primary key (bench/floor.py,
served like the portal) measured the same way in the same run. Before the timings, every
SELECT a page runs on ``jobs_command`` is shown with its ``EXPLAIN`` plan (through Django's
test client in a portal shell), and a sequential scan of ``jobs_command`` is reported.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.portal import Portal, timed_gets

LOAD = """
INSERT INTO jobs_command (account_id, user_id, submission_id, command_type, source, name,
    label, tags, script, query, macros, runtime_env, metadata, parameters, timeout, status,
    throttled, progress, created_at, updated_at, started_at, finished_at, node_id, hostname,
    worker_id, attempt, exit_code, error_type, error_message, log_size, log_truncated,
    result_truncated)
SELECT a.ids[1 + g %% 100], NULL, 'bench_' || g,
    CASE WHEN g %% 5 = 0 THEN 'sql' ELSE 'shell' END, 'api', 'job ' || (g %% 1000),
    CASE WHEN g %% 10 = 0 THEN 'gpu' ELSE 'default' END, '["nightly"]',
    CASE WHEN g %% 5 = 0 THEN '' ELSE 'echo ' || g END,
    CASE WHEN g %% 5 = 0 THEN 'SELECT ' || g ELSE '' END, '{}', '{}', '{}', '{}', 3600,
    CASE WHEN g %% 50 = 0 THEN 'error' WHEN g %% 97 = 0 THEN 'cancelled' ELSE 'done' END,
    false, 100, t, t, t + interval '1 second', t + interval '3 seconds', 'bench',
    'bench-host', 'bench-worker', 1, CASE WHEN g %% 50 = 0 THEN 1 ELSE 0 END,
    CASE WHEN g %% 50 = 0 THEN 'NonZeroExit' ELSE '' END, '', 0, false, false
FROM generate_series(1, %(rows)s) AS g,
     LATERAL (SELECT now() - (%(rows)s - g) * interval '20 seconds' AS t) AS times,
     (SELECT array_agg(id ORDER BY id) AS ids FROM accounts_account) AS a
"""

ACCOUNTS = """
from accounts.models import Account
Account.objects.bulk_create([Account(slug=f"tenant-{n}", name=f"Tenant {n}")
                             for n in range(99)], ignore_conflicts=True)
"""

EXPLAIN = """
import json
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from accounts.models import User
client = Client(HTTP_HOST="127.0.0.1")
sessions = {}
for who, email in (("admin", "ops@bench.test"), ("member", "bench@bench.test")):
    sessions[who] = Client(HTTP_HOST="127.0.0.1")
    sessions[who].force_login(User.objects.get(email=email))
out = {}
for name, path, auth in json.loads(PAGES):
    who = sessions.get(auth, client)
    headers = {} if auth in sessions else {"Authorization": "Bearer " + TOKEN}
    with CaptureQueriesContext(connection) as seen:
        status = who.get(path, headers=headers).status_code
    plans = []
    for query in seen.captured_queries:
        sql = query["sql"]
        if sql.lstrip().upper().startswith("SELECT") and "jobs_command" in sql:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN " + sql)
                plans.append([sql[:160], [row[0] for row in cursor.fetchall()]])
    out[name] = [status, plans]
print(json.dumps(out))
"""


def load(portal, rows):
    started = time.monotonic()
    portal.shell(ACCOUNTS)
    portal.shell(
        "from django.db import connection\n"
        "with connection.cursor() as cursor:\n"
        f"    cursor.execute({LOAD!r}, {{'rows': {rows}}})\n"
        "    cursor.execute('ANALYZE jobs_command')\n")
    portal.shell("from accounts.models import User;"
                 "User.objects.create_superuser('ops@bench.test', 'bench-password');"
                 "member = User.objects.get(email='bench@bench.test');"
                 "member.set_password('bench-password'); member.save()")
    return time.monotonic() - started


def pages(deep_cursor):
    """(name, path, who, target ms) of every page measured."""
    day = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() - 86400))
    today = time.gmtime()
    return [
        ("api_list", "/api/v1/commands/", "token", 100),
        ("api_list_status", "/api/v1/commands/?status=error", "token", 100),
        ("api_list_date", f"/api/v1/commands/?created_after={day}", "token", 100),
        ("api_list_search", "/api/v1/commands/?search=job%2042", "token", 100),
        ("api_list_deep_cursor", deep_cursor, "token", 100),
        ("qubole_list", "/api/v1.2/commands?per_page=50&all_users=1", "token", 100),
        ("qubole_list_status", "/api/v1.2/commands?per_page=50&all_users=1&status=error",
         "token", 100),
        ("qubole_list_page_10", "/api/v1.2/commands?page=10&per_page=50&all_users=1", "token",
         100),
        ("html_history", "/commands/", "member", 100),
        ("html_history_status", "/commands/?status=error", "member", 100),
        ("html_history_date", f"/commands/?created_after={day[:10]}", "member", 100),
        ("html_history_search", "/commands/?search=job+42", "member", 100),
        ("admin_changelist", "/admin/jobs/command/", "admin", 300),
        ("admin_search", "/admin/jobs/command/?q=label%3Agpu", "admin", 300),
        ("admin_date_drilldown", f"/admin/jobs/command/?created_at__year={today.tm_year}"
         f"&created_at__month={today.tm_mon}", "admin", 300),
    ]


def signed_in(url, login, email):
    """A client with a session: the operator in the admin, the bench account's admin in the
    pages (their login forms, as a browser fills them)."""
    client = httpx.Client(base_url=url, timeout=60)
    client.get(login)
    client.post(login, data={
        "username": email, "password": "bench-password",
        "csrfmiddlewaretoken": client.cookies["csrftoken"]},
        headers={"Referer": f"{url}{login}"})
    if "sessionid" not in client.cookies:
        raise RuntimeError(f"{email} could not log in at {login}")
    return client


def p95(client, path, samples, headers=None):
    times = timed_gets(client, path, samples, headers)
    return times[int(0.95 * (len(times) - 1))], statistics.median(times)


def deep_cursor(client, token, hops):
    """The address of the page ``hops`` pages into the bench account's history."""
    path = "/api/v1/commands/"
    for _ in range(hops):
        path = client.get(path, headers={"Authorization": f"Bearer {token}"}).json()["next"]
    parts = urlsplit(path)
    return f"{parts.path}?{parts.query}"


def show_plans(portal, token, measured):
    listing = json.dumps([[name, path, who] for name, path, who, _ in measured])
    result = json.loads(portal.shell(
        f"PAGES = {listing!r}\nTOKEN = {token!r}\n" + EXPLAIN).strip().splitlines()[-1])
    for name, (status, plans) in result.items():
        print(f"# {name}: HTTP {status}, {len(plans)} SELECT(s) on jobs_command", flush=True)
        for sql, plan in plans:
            scans = [row for row in plan if "Seq Scan on jobs_command" in row]
            print(f"#   {sql}…", flush=True)
            for row in plan[:5]:
                print(f"#     {row}", flush=True)
            if scans:
                print("#   !! sequential scan of jobs_command", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True, help="A PostgreSQL database to fill.")
    parser.add_argument("--quick", action="store_true", help="100,000 rows, 20 samples.")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--samples", type=int, default=None)
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        parser.error("history at scale is measured on PostgreSQL")
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    samples = args.samples or (20 if args.quick else 100)
    portal = Portal(args.database_url)
    token = portal.setup()
    print(f"# loaded {rows} commands over 100 accounts in {load(portal, rows):.0f} s; "
          f"{samples} sequential requests per page", flush=True)
    floor_url, _ = portal.floor("/floor/commands/", DJANGO_CONN_MAX_AGE="60")
    url, _ = portal.serve()
    try:
        api = httpx.Client(base_url=url, timeout=60)
        auth = {"Authorization": f"Bearer {token}"}
        measured = pages(deep_cursor(api, token, rows // 100 // 50 // 2))  # half way down
        show_plans(portal, token, measured)
        floor = httpx.Client(base_url=floor_url, timeout=60)
        some_id = api.get("/api/v1/commands/", headers=auth).json()["results"][0]["id"]
        floor_p95, _ = p95(floor, f"/floor/commands/{some_id}/", samples)
        sessions = {"admin": signed_in(url, "/admin/login/", "ops@bench.test"),
                    "member": signed_in(url, "/accounts/login/", "bench@bench.test")}
        print("# name p95_ms floor_p95_ms ratio target_ms (median ms)", flush=True)
        for name, path, who, target in measured:
            client, headers = (sessions[who], None) if who in sessions else (api, auth)
            value, median = p95(client, path, samples, headers)
            print(f"{name} {value:.1f} {floor_p95:.1f} {value / floor_p95:.2f} <{target} "
                  f"({median:.1f})", flush=True)
    finally:
        portal.stop()


if __name__ == "__main__":
    main()
