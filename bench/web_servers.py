"""Plain request throughput of the portal under each way of serving it, in rounds.

    .venv/bin/python bench/web_servers.py [--rounds 3] [--seconds 5] [--database-url URL]

Each round starts every server in turn (one at a time, so they neither compete for the cores
nor hold database connections at once), loads ``/healthz`` and ``GET /api/v1/commands/{id}/``
with wrk (16 connections, its own process) and stops it; the order rotates between rounds.
Printed: the median req/s of each server and endpoint, its rounds, and the ratio to gunicorn
gthread (what `serve` ran before it served ASGI).
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.portal import Portal, free_port, wait_http
from bench.wrk import requests_per_second

PY = sys.executable
NO_HEALTH_CHECKS = {"DJANGO_CONN_HEALTH_CHECKS": "0"}


def gunicorn(port):
    return [PY, "-m", "gunicorn", "jobportal.wsgi", "--bind", f"127.0.0.1:{port}",
            "--workers", "2", "--worker-class", "gthread", "--threads", "8",
            "--log-level", "warning"]


def uvicorn_django(port):
    return [PY, "-m", "uvicorn", "--factory", "django.core.asgi:get_asgi_application",
            "--port", str(port), "--workers", "2", "--no-access-log", "--log-level",
            "warning"]


def portal_web(workers):
    return lambda port: [PY, "-m", "jobportal.web", "--port", str(port), "--workers",
                         str(workers), "--no-access-log"]


# name: (argv for a port, extra environment)
SERVERS = {
    "gunicorn gthread 2x8 (WSGI)": (gunicorn, {}),
    "gunicorn gthread 2x8, no health checks": (gunicorn, NO_HEALTH_CHECKS),
    # Django's own ASGI handler opens a connection per request (a new thread each): with
    # CONN_MAX_AGE it leaks them, so it runs as Django advises for ASGI, without persistence.
    "uvicorn x2, Django's handler, CONN_MAX_AGE=0": (uvicorn_django, {
        "DJANGO_CONN_MAX_AGE": "0", "DJANGO_SETTINGS_MODULE": "jobportal.settings"}),
    "uvicorn x2, serve (pooled threads)": (portal_web(2), {}),
    "uvicorn x2, serve, no health checks": (portal_web(2), NO_HEALTH_CHECKS),
    "uvicorn x4, serve (pooled threads)": (portal_web(4), {}),
}


def open_connections(database_url):
    """Connections the server holds to the benchmark's PostgreSQL database (None: SQLite)."""
    if not database_url:
        return None
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) - 1 FROM pg_stat_activity "
                            "WHERE datname = current_database()").fetchone()[0]


def measure(portal, argv, env, paths, headers, seconds, database_url):
    port = free_port()
    proc = portal.spawn(argv(port), "server.log", **env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz")
        requests_per_second(base + "/healthz", 1)  # warm-up
        values = [requests_per_second(base + path, seconds, headers) for path in paths]
        return values, open_connections(database_url)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    portal = Portal(args.database_url)
    token = portal.setup()
    pk = portal.submit("true")[0]
    paths = ["/healthz", f"/api/v1/commands/{pk}/"]
    headers = {"Authorization": f"Bearer {token}"}
    results = {name: [[] for _ in paths] for name in SERVERS}
    connections = {name: [] for name in SERVERS}
    names = list(SERVERS)
    for index in range(args.rounds):
        for name in names[index % len(names):] + names[:index % len(names)]:
            argv, env = SERVERS[name]
            values, held = measure(portal, argv, env, paths, headers, args.seconds,
                                   args.database_url)
            for into, value in zip(results[name], values, strict=True):
                into.append(value)
            connections[name].append(held)
    print(f"# {args.rounds} rounds x {args.seconds} s, wrk -c16, database "
          f"{portal.env['DATABASE_URL'].split(':')[0]}; median req/s (ratio to gthread)")
    base = [statistics.median(r) for r in results[names[0]]]
    for name in names:
        cells = []
        for path, rounds, floor in zip(("healthz", "detail"), results[name], base,
                                       strict=True):
            median = statistics.median(rounds)
            cells.append(f"{path} {median:.0f} ({median / floor:.2f}) "
                         f"{[round(x) for x in rounds]}")
        held = "" if args.database_url is None else f"  connections after load {connections[name]}"
        print(f"{name:48} " + "  ".join(cells) + held, flush=True)


if __name__ == "__main__":
    main()
