"""Set up a throwaway portal (its own data dir and database) for a benchmark run."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Portal:
    """A portal installation in a temporary directory, driven through manage.py."""

    def __init__(self, database_url=None, **env):
        self.dir = Path(tempfile.mkdtemp(prefix="jobportal-bench-"))
        # The sandbox's user must reach the work directories inside (mkdtemp makes it 0700).
        self.dir.chmod(0o711)
        self.env = {
            **os.environ,
            "JOBPORTAL_DATA_DIR": str(self.dir),
            "DATABASE_URL": database_url or f"sqlite:///{self.dir / 'bench.sqlite3'}",
            "DJANGO_STATIC_ROOT": str(self.dir / "static"),
            "PYTHONPATH": str(ROOT),
            **env,
        }
        self.env.pop("PYTEST_XDIST_WORKER", None)
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

    def scalar(self, sqlite, postgresql=None):
        """The first value of a statement's first row, read over a plain connection of this
        process (a ``manage.py shell`` costs a Django start-up, about a core-second, which a
        poll loop would take from what it measures). ``postgresql``: the PostgreSQL
        spelling, where it differs."""
        url = self.env["DATABASE_URL"]
        if url.startswith("sqlite:"):
            import sqlite3

            with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"),
                                                    timeout=30)) as conn:
                return conn.execute(sqlite).fetchone()[0]
        import psycopg

        with psycopg.connect(url) as conn:
            return conn.execute(postgresql or sqlite).fetchone()[0]

    def span_seconds(self, table, where):
        """Seconds from the first ``started_at`` to the last ``finished_at`` of the rows of
        ``table`` matching ``where``: a run's own window, worker start-up outside it."""
        return float(self.scalar(
            f"SELECT (julianday(MAX(finished_at)) - julianday(MIN(started_at))) * 86400 "
            f"FROM {table} WHERE {where}",
            f"SELECT EXTRACT(EPOCH FROM MAX(finished_at) - MIN(started_at)) "
            f"FROM {table} WHERE {where}"))

    def submit(self, script, count=1):
        """Submit ``count`` shell commands; their ids."""
        out = self.shell(
            "from accounts.models import Account; from jobs import lifecycle;"
            "a = Account.objects.get(slug='bench');"
            f"print(*[lifecycle.submit(account=a, user=None, source='api',"
            f" command_type='shell', script={script!r}).pk for _ in range({count})])"
        )
        return [int(pk) for pk in out.split()]

    def submit_sql(self, query, submission_id):
        """Submit a SQL command on the account's built-in source; its id."""
        out = self.shell(
            "from accounts.models import Account; from jobs import lifecycle;"
            "a = Account.objects.get(slug='bench');"
            f"print(lifecycle.submit(account=a, user=None, source='api', command_type='sql',"
            f" query={query!r}, submission_id={submission_id!r}).pk)"
        )
        return int(out.split()[-1])

    def spawn(self, argv, log_name, **env):
        """``argv`` in the background, its output in the portal's directory."""
        log = open(self.dir / log_name, "w")  # noqa: SIM115 (the process outlives this call)
        proc = subprocess.Popen(argv, env={**self.env, **env}, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def serve(self, web_workers=2, concurrency=1, **env):
        """The portal as `make run` serves it (manage.py serve); its URL and process."""
        port = free_port()
        proc = self.spawn([sys.executable, str(ROOT / "manage.py"), "serve", "--port",
                           str(port), "--web-workers", str(web_workers), "--concurrency",
                           str(concurrency), "--no-access-log"], "serve.log", **env)
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz")
        return url, proc

    def floor(self, wait_path, workers=2, **env):
        """The floor (bench/floor.py) served as ``serve`` serves the portal (the supervisor
        listening, ``workers`` web processes each on its socket of the group); its URL and
        process."""
        port = free_port()
        web = [sys.executable, "-m", "jobportal.web", "--fd", "{fd}", "--app",
               "bench.floor:application", "--no-access-log"]
        plan = {"cwd": str(ROOT), "listen": ["127.0.0.1", port],
                "children": [{"name": f"floor-{n}", "argv": web, "replace": False,
                              "listens": True} for n in range(1, workers + 1)]}
        proc = self.spawn([sys.executable, "-m", "jobportal.procs", json.dumps(plan)],
                          "floor.log", **env)
        url = f"http://127.0.0.1:{port}"
        wait_http(url + wait_path)
        return url, proc

    def gunicorn(self, app, wait_path, workers=2, threads=8, **env):
        """``app`` under gunicorn gthread (workers x threads); its URL and process."""
        port = free_port()
        proc = self.spawn([sys.executable, "-m", "gunicorn", app, "--bind",
                           f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class",
                           "gthread", "--threads", str(threads), "--log-level", "warning"],
                          f"{app.split(':')[0]}.log", **env)
        url = f"http://127.0.0.1:{port}"
        wait_http(url + wait_path)
        return url, proc

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url, timeout=60, headers=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(url, headers=headers or {})  # noqa: S310
            with urllib.request.urlopen(request) as response:  # noqa: S310 (loopback only)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def thread_count(pid):
    """Threads of process ``pid`` and of all its descendants (Linux /proc)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            kids = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += int(status.split("Threads:")[1].split()[0])
        pending += [int(kid) for kid in kids]
    return total


def timed_gets(client, path, samples, headers=None):
    """Milliseconds of ``samples`` sequential GETs of ``path`` (an httpx client), sorted; any
    answer but 200 fails the run."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
    return sorted(times)


def line(name, value, floor, target, digits=1, ratio=None):
    """A benchmark's summary line: ``name value floor ratio target``; the ratio is
    ``value / floor`` (0 without a floor) unless given (such as a paired ratio of rounds)."""
    if ratio is None:
        ratio = value / floor if floor else 0.0
    print(f"{name} {value:.{digits}f} {floor:.{digits}f} {ratio:.2f} {target}", flush=True)
