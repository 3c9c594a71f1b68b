"""Dispatch: how fast commands go from submitted to running to done, against the bare engine.

    .venv/bin/python bench/dispatch.py [--quick] [--commands 2000] [--database-url URL]

Figures, each against a floor measured in the same run (``name value floor ratio target``):

- ``dispatch_shell`` / ``dispatch_sql``: commands per second through the whole lifecycle
  (admission under the account's limit, claim, sandboxed ``true`` or DuckDB ``SELECT 1``,
  finish, the next admission) with 2 worker processes, against django-tasks-db's own
  ``db_worker`` x 2 running as many empty tasks on the same kind of database (target ≥ 0.5);
  both from the first start to the last end by the rows' own timestamps (worker start-up
  outside), both polled over a plain database connection.
- ``start_p50`` / ``start_p95`` and ``done_p50``: ``echo hi`` submitted one at a time through
  the API to idle workers, from the command's ``created_at`` to its ``started_at`` /
  ``finished_at`` (the database's own timestamps), in ms (targets < 100 ms and < 200 ms; the
  floor column is 0: there is none).
- ``idle_cpu_pct``: CPU used by everything ``serve --concurrency 2`` started (the supervisor,
  2 web processes, one worker process of 2 slots) over an idle period, in % of one core
  (target < 2).
- ``idle_rss_mib``: their resident memory then, in MiB (target < 300); their memory every
  0.5 s over the latency and idle phases is drawn in ``--plot`` (docs/img/serve-rss.png).
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.portal import ROOT, Portal, line, wait_http

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def tree(pid):
    """``pid`` and all its descendants."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            pending += [int(kid) for kid in Path(
                f"/proc/{current}/task/{current}/children").read_text().split()]
    return found


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def rss_mib(pids):
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except OSError:
            continue
    return total / 2**20


class RssSampler(threading.Thread):
    """The resident memory of ``pid`` and its descendants every ``every`` seconds, as
    (seconds since start, MiB), until stopped."""

    def __init__(self, pid, every=0.5):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples, self.marks = [], []
        self._stopped = threading.Event()
        self._began = time.monotonic()

    def run(self):
        while not self._stopped.is_set():
            self.samples.append((time.monotonic() - self._began, rss_mib(tree(self.pid))))
            self._stopped.wait(self.every)

    def mark(self, label):
        self.marks.append((time.monotonic() - self._began, label))

    def stop(self):
        self._stopped.set()
        self.join(timeout=10)


def plot_rss(sampler, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.plot(*zip(*sampler.samples, strict=True), label="serve: supervisor, web, worker")
    axes.axhline(300, color="grey", linestyle="--", label="target 300 MiB")
    for at, label in sampler.marks:
        axes.axvline(at, color="lightgrey")
        axes.annotate(label, (at, 10), rotation=90, fontsize=8)
    axes.set_xlabel("seconds since serve answered")
    axes.set_ylabel("resident memory (MiB)")
    axes.set_ylim(0, 350)
    axes.set_title("make run's processes: memory over time")
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def wait_until(portal, count_sql, expected, timeout):
    """Poll ``count_sql`` (a ``SELECT COUNT(*)``) until it reaches ``expected``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if portal.scalar(count_sql) >= expected:
            return
        time.sleep(0.2)
    raise RuntimeError(f"not done after {timeout} s: {count_sql}")


TASKS = "django_tasks_database_dbtaskresult"  # django-tasks-db's table


def bare_engine(portal, count):
    """Tasks per second of django-tasks-db's own worker, 2 processes, ``count`` empty tasks,
    from the first task's start to the last one's end."""
    portal.shell("from bench.tasks import noop\n"
                 f"for _ in range({count}): noop.enqueue()")
    workers = [portal.spawn([sys.executable, str(ROOT / "manage.py"), "db_worker",
                             "--interval", "0.05", "--no-startup-delay",
                             "--worker-id", f"bare-{n}"], f"bare-{n}.log") for n in range(2)]
    noop = "task_path = 'bench.tasks.noop'"
    wait_until(portal, f"SELECT COUNT(*) FROM {TASKS} WHERE {noop} AND status = 'SUCCESSFUL'",
               count, 600)
    for proc in workers:
        proc.terminate()
        proc.wait(timeout=30)
    return count / portal.span_seconds(TASKS, noop)


def lifecycle_rate(portal, count, kind):
    """Commands per second through the portal's lifecycle with 2 workers, from the first
    command's start to the last one's end (the same window as the bare engine's)."""
    body = "script='true'" if kind == "shell" else "query='SELECT 1'"
    portal.shell("from accounts.models import Account; from jobs import lifecycle;"
                 "a = Account.objects.get(slug='bench');"
                 f"[lifecycle.submit(account=a, user=None, source='api', command_type="
                 f"{kind!r}, name='dispatch', {body}) for _ in range({count})]")
    workers = [portal.spawn([sys.executable, str(ROOT / "manage.py"), "worker"],
                            f"worker-{kind}-{n}.log") for n in range(2)]
    mine = f"name = 'dispatch' AND command_type = '{kind}'"
    wait_until(portal, f"SELECT COUNT(*) FROM jobs_command WHERE {mine} AND status IN "
               "('done', 'error', 'cancelled')", count, 1200)
    for proc in workers:
        proc.terminate()
        proc.wait(timeout=30)
    failed = portal.scalar(f"SELECT COUNT(*) FROM jobs_command WHERE {mine} "
                           "AND status != 'done'")
    if failed:
        raise RuntimeError(f"{failed} {kind} commands did not end done")
    return count / portal.span_seconds("jobs_command", mine)


def latencies(portal, url, token, samples):
    """``echo hi`` one at a time to idle workers: ms from created to started and to done."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    ids = []
    for _ in range(samples):
        time.sleep(0.3)  # let the workers go idle again
        request = urllib.request.Request(  # noqa: S310 (loopback)
            f"{url}/api/v1/commands/", method="POST", headers=headers,
            data=json.dumps({"command_type": "shell", "script": "echo hi"}).encode())
        with urllib.request.urlopen(request) as response:  # noqa: S310
            ids.append(json.load(response)["id"])
        wait_until(portal, f"SELECT COUNT(*) FROM jobs_command WHERE id = {ids[-1]} "
                   "AND status = 'done'", 1, 60)
    rows = json.loads(portal.shell(
        "import json; from jobs.models import Command;"
        f"print(json.dumps([[(c.started_at - c.created_at).total_seconds(),"
        f" (c.finished_at - c.created_at).total_seconds()]"
        f" for c in Command.objects.filter(pk__in={ids})]))").strip().splitlines()[-1])
    start = sorted(row[0] * 1000 for row in rows)
    done = sorted(row[1] * 1000 for row in rows)
    return (statistics.median(start), start[int(0.95 * (len(start) - 1))],
            statistics.median(done))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="200 commands, 10 s idle.")
    parser.add_argument("--commands", type=int, default=None)
    parser.add_argument("--idle-seconds", type=int, default=None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--plot", default=str(ROOT / "docs" / "img" / "serve-rss.png"),
                        help="Where to draw serve's memory over the latency and idle phases.")
    args = parser.parse_args()
    count = args.commands or (200 if args.quick else 2000)
    idle = args.idle_seconds or (10 if args.quick else 60)
    portal = Portal(args.database_url, JOBPORTAL_MAX_LOG_BYTES=str(2**20))
    token = portal.setup()
    portal.shell("from accounts.models import Account;"
                 "Account.objects.filter(slug='bench').update(max_concurrency=1000)")
    print(f"# {count} commands, 2 workers; database {portal.env['DATABASE_URL'].split(':')[0]}")
    print("# name value floor ratio target", flush=True)
    try:
        bare = bare_engine(portal, count)
        line("dispatch_shell", lifecycle_rate(portal, count, "shell"), bare, "0.5")
        line("dispatch_sql", lifecycle_rate(portal, count, "sql"), bare, "0.5")
        url, serve = portal.serve(concurrency=2)
        wait_http(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        sampler = RssSampler(serve.pid)
        sampler.start()
        sampler.mark("echo hi, one at a time")
        start_p50, start_p95, done_p50 = latencies(portal, url, token, 10 if args.quick else 40)
        line("start_p50_ms", start_p50, 0, "<100")
        line("start_p95_ms", start_p95, 0, "-")
        line("done_p50_ms", done_p50, 0, "<200")
        time.sleep(3)
        pids = tree(serve.pid)
        sampler.mark("idle")
        before, began = cpu_seconds(pids), time.monotonic()
        time.sleep(idle)
        used = cpu_seconds(pids) - before
        sampler.stop()
        line("idle_cpu_pct", 100 * used / (time.monotonic() - began), 0, "<2")
        line("idle_rss_mib", rss_mib(pids), 0, "<300")
        print(f"#   serve's processes: {len(pids)}; peak memory "
              f"{max(mib for _, mib in sampler.samples):.1f} MiB", flush=True)
        if args.plot:
            plot_rss(sampler, args.plot)
            print(f"# plot: {args.plot}", flush=True)
    finally:
        portal.stop()


if __name__ == "__main__":
    main()
