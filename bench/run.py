"""Run every benchmark (each prints ratios against a floor measured in the same run).

    .venv/bin/python bench/run.py [--quick] [--database-url URL]

With a PostgreSQL URL, each benchmark gets a database of its own on that server
(``<name>_<benchmark>``, made before and dropped after), so none sees another's rows.
"""

import argparse
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="Each figure in under a minute.")
parser.add_argument("--database-url", default=None)
args = parser.parse_args()
quick = ["--quick"] if args.quick else []
postgres = bool(args.database_url and args.database_url.startswith("postgres"))


@contextmanager
def database_for(script):
    """The ``--database-url`` arguments for ``script``: a fresh PostgreSQL database."""
    if not postgres:
        yield ["--database-url", args.database_url] if args.database_url else []
        return
    import psycopg

    parts = urlsplit(args.database_url)
    name = f"{parts.path.lstrip('/') or 'jobportal'}_{Path(script).stem}"
    server = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ["--database-url", urlunsplit(parts._replace(path=f"/{name}"))]
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


runs = {
    "status_endpoint.py": (quick, True),
    "sql_memory.py": (["--rows", "200000"] if args.quick else [], False),
    "dispatch.py": (quick, True),
    "ray_client.py": (["--jobs", "10"] if args.quick else [], True),
    "big_outputs.py": (quick, True),
    "tail_latency.py": (quick, True),
    "against_ray.py": (quick, True),
}
if postgres:
    runs["history.py"] = (quick, True)
    runs["scale_out.py"] = (quick, True)
for script, (extra, takes_database) in runs.items():
    print(f"== {script}", flush=True)
    if not takes_database:
        subprocess.run([sys.executable, str(HERE / script), *extra], check=True)
        continue
    with database_for(script) as database:
        subprocess.run([sys.executable, str(HERE / script), *extra, *database], check=True)
