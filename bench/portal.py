"""Set up a throwaway portal (its own data dir and database) for a benchmark run."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Portal:
    """A portal installation in a temporary directory, driven through manage.py."""

    def __init__(self, database_url=None):
        self.dir = Path(tempfile.mkdtemp(prefix="jobportal-bench-"))
        self.env = {
            **os.environ,
            "JOBPORTAL_DATA_DIR": str(self.dir),
            "DATABASE_URL": database_url or f"sqlite:///{self.dir / 'bench.sqlite3'}",
            "DJANGO_STATIC_ROOT": str(self.dir / "static"),
            "PYTHONPATH": str(ROOT),
        }
        self.procs = []

    def manage(self, *args):
        return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=self.env,
                              check=True, capture_output=True, text=True).stdout

    def setup(self):
        self.manage("migrate", "--noinput")
        token = self.manage("createaccount", "bench", "--admin", "bench@bench.test",
                            "--token").strip().splitlines()[-1]
        self.shell(
            "from accounts.models import Account;"
            "Account.objects.filter(slug='bench').update(api_rate_limit=10**9, "
            "max_concurrency=100)"
        )
        return token

    def shell(self, code):
        return self.manage("shell", "--no-imports", "-c", code)

    def start_web(self, workers=2):
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "bench.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers), "--worker-class", "gthread", "--threads", "4",
             "--log-level", "warning"],
            env=self.env, cwd=ROOT,
        )
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz")
        return url

    def stop(self):
        for proc in self.procs:
            proc.terminate()
            proc.wait(timeout=30)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url, timeout=30):
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url) as response:  # noqa: S310 (loopback only)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")
