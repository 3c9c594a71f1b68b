"""Scale-out: dispatch throughput with 1, 2 and 4 worker processes, on both task engines.

    .venv/bin/python bench/scale_out.py --database-url postgresql://... [--quick]
                                        [--broker redis://127.0.0.1:6379/14] [--plot PATH]

For each engine (the database engine, ``FOR UPDATE SKIP LOCKED``; Celery with Redis) and each
worker count, a fresh portal database gets N trivial commands (``true`` in the sandbox),
then the workers start and run them through the whole lifecycle; commands per second from
the first command's start to the last one's end (the database's timestamps). The floor of
each line is the same engine with one worker. Summary lines ``name value floor ratio
target`` (target: more workers, more commands a second, up to the machine's cores), and a
plot (``--plot``; default docs/img/scale-out.png).
CPU of the whole machine during each run is printed too, to say what saturated.
"""

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dispatch import wait_until
from bench.portal import ROOT, Portal

COUNTS = (1, 2, 4)


def database(url, name, create=True):
    """Drop PostgreSQL database ``name`` on the server of ``url`` and, with ``create``, make
    it anew; its URL."""
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def machine_busy():
    """(busy, total) jiffies of all CPUs so far (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def run(database_url, engine, workers, count, broker):
    env = {"JOBPORTAL_TASK_BACKEND": engine}
    if engine == "celery":
        import redis

        redis.Redis.from_url(broker).flushdb()
        env["CELERY_BROKER_URL"] = broker
    portal = Portal(database_url, **env)
    try:
        portal.setup()
        portal.shell("from accounts.models import Account; from jobs import lifecycle;"
                     "Account.objects.filter(slug='bench').update(max_concurrency=10000);"
                     "a = Account.objects.get(slug='bench');"
                     f"[lifecycle.submit(account=a, user=None, source='api', command_type='shell',"
                     f" script='true') for _ in range({count})]")
        busy0, total0 = machine_busy()
        if engine == "celery":
            portal.spawn([sys.executable, str(ROOT / "manage.py"), "worker", "--concurrency",
                          str(workers)], "celery-worker.log")
        else:
            for n in range(workers):
                portal.spawn([sys.executable, str(ROOT / "manage.py"), "worker"],
                             f"worker-{n}.log")
        wait_until(portal, "SELECT COUNT(*) FROM jobs_command WHERE status = 'done'", count,
                   1800)
        busy1, total1 = machine_busy()
        rate = count / portal.span_seconds("jobs_command", "status = 'done'")
        return rate, 100 * (busy1 - busy0) / max(1, total1 - total0)
    finally:
        portal.stop()


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for engine, points in results.items():
        axes.plot(list(points), [rate for rate, _ in points.values()], marker="o", label=engine)
    axes.set_xlabel("worker processes")
    axes.set_ylabel("commands per second (sandboxed `true`)")
    axes.set_xticks(list(COUNTS))
    axes.set_ylim(bottom=0)
    axes.set_title(f"Dispatch throughput on {os.cpu_count()} cores")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True, help="A PostgreSQL server's URL.")
    parser.add_argument("--quick", action="store_true", help="100 commands a run.")
    parser.add_argument("--commands", type=int, default=None)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--plot", default=str(ROOT / "docs" / "img" / "scale-out.png"))
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        parser.error("scale-out is measured on PostgreSQL (SQLite has one writer)")
    count = args.commands or (100 if args.quick else 1000)
    base = urlsplit(args.database_url).path.lstrip("/") or "jobportal"
    print(f"# {count} commands a run; {os.cpu_count()} cores", flush=True)
    print("# name value floor ratio target", flush=True)
    results = {}
    for engine in ("database", "celery"):
        results[engine] = {}
        for workers in COUNTS:
            name = f"{base}_scale_{engine}_{workers}"
            try:
                rate, cpu = run(database(args.database_url, name), engine, workers, count,
                                args.broker)
            finally:
                database(args.database_url, name, create=False)
            results[engine][workers] = rate, cpu
            floor = results[engine][1][0]
            print(f"scale_{engine}_{workers} {rate:.1f} {floor:.1f} {rate / floor:.2f} "
                  f">1 (machine CPU {cpu:.0f} %)", flush=True)
    if args.plot:
        plot(results, args.plot)
        print(f"# plot: {args.plot}", flush=True)


if __name__ == "__main__":
    main()
