"""Peak memory of a worker running a SQL command, by result size, against a floor.

    .venv/bin/python bench/sql_memory.py [--rows 200000 2000000]

Each measurement is a fresh `manage.py worker --once` process running one SQL command on the
built-in DuckDB source; its peak resident set (ru_maxrss) is read by a small parent process.
The floor is the same worker running `SELECT 1`. Rows stream from the cursor into result
chunks, so the peak should not grow with the result.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.portal import ROOT, Portal

MEASURE = (
    "import resource, subprocess, sys;"
    "subprocess.run(sys.argv[1:], check=True, capture_output=True);"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def peak_kib(portal, query):
    out = portal.shell(
        "from accounts.models import Account; from jobs import lifecycle;"
        "a = Account.objects.get(slug='bench');"
        f"c = lifecycle.submit(account=a, user=None, source='api', command_type='sql',"
        f" query={query!r}); print(c.pk)"
    )
    pk = out.strip().splitlines()[-1]
    peak = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, str(ROOT / "manage.py"), "worker",
         "--once"], env=portal.env, check=True, capture_output=True, text=True,
    ).stdout.strip()
    row = json.loads(portal.shell(
        "import json; from jobs.models import Command;"
        f"c = Command.objects.get(pk={pk});"
        "print(json.dumps([c.status, c.result_row_count, c.error_message]))"
    ).strip().splitlines()[-1])
    if row[0] != "done":
        raise RuntimeError(f"command {pk} ended {row[0]}: {row[2]}")
    return int(peak), row[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000, 3_000_000])
    args = parser.parse_args()
    portal = Portal()
    # Past the default cap of 1,000,000 rows, to see whether memory follows the result size.
    portal.env["JOBPORTAL_MAX_RESULT_ROWS"] = str(max(args.rows))
    portal.env["JOBPORTAL_MAX_RESULT_BYTES"] = str(10 * 1024**3)
    portal.setup()
    floor, _ = peak_kib(portal, "SELECT 1")
    print(f"{'result rows':>12} {'peak RSS MiB':>13} {'vs SELECT 1':>12}")
    print(f"{1:>12} {floor / 1024:13.1f} {1.0:12.2f}")
    for rows in args.rows:
        query = f"SELECT i, 'row number ' || i AS label, i * 0.5 AS half FROM range({rows}) t(i)"
        peak, count = peak_kib(portal, query)
        assert count == rows, (count, rows)
        print(f"{rows:>12} {peak / 1024:13.1f} {peak / floor:12.2f}")


if __name__ == "__main__":
    main()
