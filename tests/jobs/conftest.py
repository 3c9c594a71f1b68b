"""Fixtures for tests that run real worker processes against the test database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


def database_url():
    """The URL of the test database, for worker processes started by a test."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgresql://{user}{password}@{host}:{port}/{db['NAME']}"


def wait_for(predicate, timeout=30.0, interval=0.05, message="condition"):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {message}")


@pytest.fixture
def worker_env(tmp_path, work_root):
    """Environment for a worker process: the test database, a private data dir, fast beats."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "JOBPORTAL_DATA_DIR": str(tmp_path / "worker-data"),
        "JOBPORTAL_WORK_ROOT": str(work_root),
        "JOBPORTAL_HEARTBEAT_SECONDS": "0.2",
        "JOBPORTAL_HEARTBEAT_TIMEOUT_SECONDS": "3",
        "JOBPORTAL_REAP_SECONDS": "0.5",
        "JOBPORTAL_KILL_GRACE_SECONDS": "1",
        "JOBPORTAL_LOG_FLUSH_SECONDS": "0.1",
        "JOBPORTAL_CACHE_URL": "locmem",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    return env


@pytest.fixture
def start_worker(transactional_db, worker_env, tmp_path):
    """Start ``manage.py worker`` processes; all are stopped (SIGKILL) after the test."""
    procs = []

    def start(*args, env=None):
        log = open(tmp_path / f"worker-{len(procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, MANAGE, "worker", "--interval", "0.05", *args],
            env={**worker_env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc.log_path = log.name
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
