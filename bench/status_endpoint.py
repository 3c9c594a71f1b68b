"""Status and log endpoints against floors measured on the same server in the same run.

    .venv/bin/python bench/status_endpoint.py [--seconds 5] [--database-url URL]

Floors: a bare DRF view (no database) and a DRF view reading one row by primary key (no
authentication, policy or throttle). The portal's endpoints do authentication, policy, rate
limit and serialization on top; the ratios show what that costs.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import requests_per_second
from bench.portal import Portal


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--database-url", default=None,
                        help="A database to fill (default: a new SQLite file).")
    args = parser.parse_args()

    portal = Portal(args.database_url)
    token = portal.setup()
    command_id = portal.shell(
        "from accounts.models import Account; from jobs import lifecycle;"
        "a = Account.objects.get(slug='bench');"
        "c = lifecycle.submit(account=a, user=None, source='api', command_type='shell',"
        " script='echo hi'); print(c.pk)"
    ).strip()
    url = portal.start_web()
    auth = {"Authorization": f"Bearer {token}"}
    try:
        rows = [
            ("floor: bare DRF view", f"{url}/bench/bare", {}),
            ("floor: DRF view, one row by pk", f"{url}/bench/row/{command_id}", {}),
            ("GET /api/v1/commands/{id}/", f"{url}/api/v1/commands/{command_id}/", auth),
            ("GET /api/v1/commands/{id}/logs/", f"{url}/api/v1/commands/{command_id}/logs/",
             auth),
            ("GET /api/v1/commands/ (list)", f"{url}/api/v1/commands/", auth),
        ]
        results = []
        for name, target, headers in rows:
            rps = requests_per_second(target, headers, args.seconds, args.clients)
            results.append((name, rps))
        bare, row = results[0][1], results[1][1]
        print(f"{'endpoint':40} {'req/s':>8} {'vs bare':>8} {'vs one-row':>10}")
        for name, rps in results:
            print(f"{name:40} {rps:8.0f} {rps / bare:8.2f} {rps / row:10.2f}")
    finally:
        portal.stop()


if __name__ == "__main__":
    main()
