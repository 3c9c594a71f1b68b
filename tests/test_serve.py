"""`make run`'s last steps for real: a fresh data dir, migrate, demo, then `serve` (gunicorn +
worker) answering over HTTP, running `echo hello`, and stopping cleanly on Ctrl-C."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from django.conf import settings

pytestmark = pytest.mark.slow
MANAGE = str(settings.BASE_DIR / "manage.py")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def poll(fn, timeout=60):
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


def test_serve_runs_web_and_worker_and_stops_on_ctrl_c(tmp_path, work_root):
    env = {**os.environ, "JOBPORTAL_DATA_DIR": str(tmp_path),
           "JOBPORTAL_WORK_ROOT": str(work_root),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
           "DJANGO_STATIC_ROOT": str(tmp_path / "static")}
    env.pop("PYTEST_XDIST_WORKER", None)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    run = [sys.executable, MANAGE]
    subprocess.run([*run, "migrate", "--noinput", "-v0"], env=env, check=True, timeout=300)
    subprocess.run([*run, "collectstatic", "--noinput", "-v0"], env=env, check=True,
                   timeout=300)
    demo = subprocess.run([*run, "demo", "--url", url], env=env, check=True, timeout=120,
                          capture_output=True, text=True).stdout
    token = demo.split("API token:")[1].split()[0]
    assert "login admin@demo.example / " in demo

    serve = subprocess.Popen([*run, "serve", "--port", str(port), "--web-workers", "1"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        poll(lambda: httpx.get(f"{url}/healthz").status_code == 200)
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{url}/api/v1/commands/", headers=headers,
                             json={"command_type": "shell", "script": "echo hello"})
        assert created.status_code == 201
        pk = created.json()["id"]
        done = poll(lambda: (body := httpx.get(f"{url}/api/v1/commands/{pk}/",
                                               headers=headers).json())["status"] == "done"
                    and body)
        assert done["exit_code"] == 0
        logs = httpx.get(f"{url}/api/v1/commands/{pk}/logs/", headers=headers).json()
        assert logs["data"] == "hello\n"
        admin = httpx.get(f"{url}/admin/login/")
        assert admin.status_code == 200
        css = httpx.get(f"{url}/static/admin/css/base.css")
        assert css.status_code == 200
    finally:
        serve.send_signal(signal.SIGINT)
        code = serve.wait(timeout=60)
    assert code == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/healthz", timeout=2)
