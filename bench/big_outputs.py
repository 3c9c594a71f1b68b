"""Big outputs: a 1,000,000-row SQL result and a command printing 200 MB of log.

    .venv/bin/python bench/big_outputs.py [--quick] [--database-url URL]

For each: the worker's peak resident memory (a fresh ``manage.py worker --once``, its
``ru_maxrss`` read by a small parent process; the floor is the same worker running
``SELECT 1`` / ``true``), the time to run and store it (the command's ``started_at`` →
``finished_at``), and a page near the end against the page at the start through the API
(median of ``--samples`` sequential requests; the floor is the first page). Summary lines:
``name value floor ratio target``. The same reads at eleven offsets, from the start to the end
of each output, are drawn in ``--plot`` (default docs/img/page-offset.png).
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.portal import ROOT, Portal, line, timed_gets

MEASURE = (
    "import resource, subprocess, sys;"
    "subprocess.run(sys.argv[1:], check=True, capture_output=True);"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)
PAGE_BYTES = 64 * 1024
PAGE_ROWS = 1000
FRACTIONS = [step / 10 for step in range(11)]  # where the pages of the curve start


def run_one(portal, kind, text):
    """Submit one command, run it in a fresh worker; (peak MiB, seconds to run and store,
    id)."""
    field = "script" if kind == "shell" else "query"
    pk = portal.shell(
        "from accounts.models import Account; from jobs import lifecycle;"
        "a = Account.objects.get(slug='bench');"
        f"print(lifecycle.submit(account=a, user=None, source='api', command_type={kind!r},"
        f" {field}={text!r}).pk)").strip().splitlines()[-1]
    peak = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, str(ROOT / "manage.py"), "worker",
         "--once"], env=portal.env, check=True, capture_output=True, text=True).stdout.strip()
    status, seconds, error = json.loads(portal.shell(
        "import json; from jobs.models import Command;"
        f"c = Command.objects.get(pk={pk});"
        "print(json.dumps([c.status, (c.finished_at - c.started_at).total_seconds(),"
        " c.error_message]))").strip().splitlines()[-1])
    if status != "done":
        raise RuntimeError(f"command {pk} ended {status}: {error}")
    return int(peak) / 1024, seconds, int(pk)


def median_ms(client, path, headers, samples):
    client.get(path, headers=headers)  # warm: the first request of a page pays for caches
    return statistics.median(timed_gets(client, path, samples, headers))


def by_offset(client, page_at, size, page, headers, samples):
    """[(offset, median ms)] for a page starting at each of FRACTIONS of ``size``; the last
    one ends at the output's end."""
    points = []
    for fraction in FRACTIONS:
        offset = min(int(size * fraction), size - page)
        points.append((offset, median_ms(client, page_at(offset), headers, samples)))
    return points


def plot(curves, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5))
    for label, (points, size) in curves.items():
        axes.plot([100 * offset / size for offset, _ in points], [ms for _, ms in points],
                  marker="o", label=label)
    axes.set_xlabel("page offset (% of the output)")
    axes.set_ylabel("median read (ms)")
    axes.set_ylim(bottom=0)
    axes.set_title("A page of a big output: read time by where it starts")
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="100,000 rows and 20 MB.")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--log-mb", type=int, default=None)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--plot", default=str(ROOT / "docs" / "img" / "page-offset.png"),
                        help="Where to draw read time by page offset ('' for none).")
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    log_bytes = (args.log_mb or (20 if args.quick else 200)) * 10**6
    portal = Portal(args.database_url, JOBPORTAL_MAX_LOG_BYTES=str(log_bytes + 2**20))
    token = portal.setup()
    print(f"# {rows} rows, {log_bytes // 10**6} MB of log; database "
          f"{portal.env['DATABASE_URL'].split(':')[0]}", flush=True)
    print("# name value floor ratio target", flush=True)
    sql_floor, _, _ = run_one(portal, "sql", "SELECT 1")
    sql_peak, sql_seconds, sql_id = run_one(
        portal, "sql", f"SELECT i, 'row number ' || i AS label, i * 0.5 AS half "
        f"FROM range({rows}) t(i)")
    line("sql_worker_peak_mib", sql_peak, sql_floor, "<150 MiB")
    line("sql_store_seconds", sql_seconds, 0, "-")
    shell_floor, _, _ = run_one(portal, "shell", "true")
    # Lines of 99 characters and a newline: ``log_bytes`` in all.
    script = (f"yes 'xxxxxxxxx' | tr -d '\\n' | fold -w 99 | head -n {log_bytes // 100}")
    log_peak, log_seconds, log_id = run_one(portal, "shell", script)
    line("log_worker_peak_mib", log_peak, shell_floor, "<150 MiB")
    line("log_store_seconds", log_seconds, 0, "-")
    url, _ = portal.serve(concurrency=1)
    try:
        client = httpx.Client(base_url=url, timeout=60)
        auth = {"Authorization": f"Bearer {token}"}
        base = f"/api/v1/commands/{sql_id}/results/?page_size={PAGE_ROWS}"
        rows_curve = by_offset(
            client, lambda at: f"{base}&offset_start={at}&offset_end={at + PAGE_ROWS - 1}",
            rows, PAGE_ROWS, auth, args.samples)
        line("sql_page_near_end_ms", rows_curve[-1][1], rows_curve[0][1], "ratio <=2")
        logs = f"/api/v1/commands/{log_id}/logs/?limit={PAGE_BYTES}"
        log_curve = by_offset(client, lambda at: f"{logs}&offset={at}", log_bytes, PAGE_BYTES,
                              auth, args.samples)
        line("log_page_near_end_ms", log_curve[-1][1], log_curve[0][1], "ratio <=2")
        for label, curve in (("sql", rows_curve), ("log", log_curve)):
            print(f"#   {label} page by offset (ms): "
                  + ", ".join(f"{offset}: {ms:.1f}" for offset, ms in curve), flush=True)
        if args.plot:
            log_label = f"{PAGE_BYTES // 1024} KiB of {log_bytes // 10**6} MB of log"
            plot({f"{PAGE_ROWS:,} of {rows:,} result rows": (rows_curve, rows),
                  log_label: (log_curve, log_bytes)}, args.plot)
            print(f"# plot: {args.plot}", flush=True)
    finally:
        portal.stop()


if __name__ == "__main__":
    main()
