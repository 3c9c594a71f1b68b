"""Helpers for tests that run the portal for real: its own data dir, real processes, HTTP."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

import httpx
import pytest
from django.conf import settings

MANAGE = str(settings.BASE_DIR / "manage.py")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def poll(fn, timeout=60):
    """The first truthy value of ``fn()``, tried every 0.2 s; HTTP errors count as falsy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = fn()
        except httpx.TransportError:
            value = None
        if value:
            return value
        time.sleep(0.2)
    pytest.fail("timed out")


class Site:
    """A migrated portal in ``tmp_path`` with the demo account; ``token`` is its API token."""

    def __init__(self, tmp_path, **env):
        self.dir = Path(tmp_path)
        # Work directories where the sandbox's user can reach them (tmp_path lies in a
        # directory only root may enter); removed with this object.
        work_root = Path(tempfile.mkdtemp(prefix="jobportal-work-"))
        work_root.chmod(0o711)
        weakref.finalize(self, shutil.rmtree, work_root, True)
        self.env = {**os.environ, "JOBPORTAL_DATA_DIR": str(tmp_path),
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
                    "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
                    "JOBPORTAL_WORK_ROOT": str(work_root), **env}
        self.env.pop("PYTEST_XDIST_WORKER", None)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.manage("migrate", "--noinput", "-v0")
        self.demo = self.manage("demo", "--url", self.url)
        self.token = self.demo.split("API token:")[1].split()[0]
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def manage(self, *args):
        return subprocess.run([sys.executable, MANAGE, *args], env=self.env, check=True,
                              timeout=300, capture_output=True, text=True).stdout

    def spawn(self, *args, log_name="serve.log"):
        """``manage.py *args`` in the background, its output in ``self.dir / log_name``."""
        log = open(self.dir / log_name, "w")  # noqa: SIM115 (the process outlives this call)
        return subprocess.Popen([sys.executable, MANAGE, *args], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT)

    def log(self, log_name="serve.log"):
        return (self.dir / log_name).read_text()

    def serve(self, *args):
        proc = self.spawn("serve", "--port", str(self.port), "--web-workers", "1", *args)
        poll(lambda: httpx.get(f"{self.url}/healthz").status_code == 200)
        return proc

    def api(self, method, path, **kwargs):
        return httpx.request(method, f"{self.url}/api/v1/{path}", headers=self.headers,
                             timeout=30, **kwargs)

    def submit(self, script):
        created = self.api("POST", "commands/", json={"command_type": "shell",
                                                      "script": script})
        assert created.status_code == 201, created.text
        return created.json()["id"]

    def status(self, pk):
        return self.api("GET", f"commands/{pk}/").json()["status"]


def children(pid):
    """{pid: command line} of the live processes whose parent is ``pid``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


def workers_of(pid):
    return {p for p, cmd in children(pid).items() if " worker" in cmd}


def stop(proc, timeout=60):
    """Ctrl-C, then wait; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(2)
    return proc.wait(timeout=timeout)


def alive(pid):
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
