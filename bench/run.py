"""Run every benchmark (each prints ratios against a floor measured in the same run).

    .venv/bin/python bench/run.py [--quick] [--database-url URL]
"""

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="Each figure in under a minute.")
parser.add_argument("--database-url", default=None)
args = parser.parse_args()
runs = {
    "status_endpoint.py": [*(["--quick"] if args.quick else []),
                           *(["--database-url", args.database_url] if args.database_url else [])],
    "sql_memory.py": ["--rows", "200000"] if args.quick else [],
    "ray_client.py": [*(["--jobs", "10"] if args.quick else []),
                      *(["--database-url", args.database_url] if args.database_url else [])],
}
for script, extra in runs.items():
    print(f"== {script}", flush=True)
    subprocess.run([sys.executable, str(HERE / script), *extra], check=True)
