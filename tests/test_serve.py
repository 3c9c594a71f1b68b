"""`make run`'s last steps for real: a fresh data dir, migrate, demo, then `serve` (uvicorn +
workers) answering over HTTP, running `echo hello`, and stopping cleanly on Ctrl-C; and
serve's supervision: dead workers are replaced, the web server never goes down for them."""

import contextlib
import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from tests.live import MANAGE, Site, alive, children, free_port, poll, stop, workers_of

pytestmark = pytest.mark.slow


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


def test_serve_runs_its_two_slots_in_one_worker_process(tmp_path):
    site = Site(tmp_path)
    serve = site.serve()  # --concurrency 2 by default
    try:
        ids = [site.submit("sleep 1") for _ in range(2)]
        poll(lambda: all(site.status(pk) == "running" for pk in ids))
        assert len(workers_of(serve.pid)) == 1
        poll(lambda: all(site.status(pk) == "done" for pk in ids))
    finally:
        assert stop(serve) == 0


def test_a_dead_worker_process_is_replaced(tmp_path):
    site = Site(tmp_path)
    serve = site.serve("--concurrency", "2", "--worker-processes", "2")
    try:
        before = poll(lambda: len(w := workers_of(serve.pid)) == 2 and w)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        assert httpx.get(f"{site.url}/healthz").status_code == 200
        after = poll(lambda: len(w := workers_of(serve.pid)) == 2 and victim not in w and w)
        assert len(after - before) == 1
        assert f"(pid {victim}) exited with -9 (SIGKILL); replacing it" in site.log()
        pk = site.submit("echo hi")
        poll(lambda: site.status(pk) == "done")
        logs = site.api("GET", f"commands/{pk}/logs/").json()
        assert logs["data"] == "hi\n"
        assert httpx.get(f"{site.url}/healthz").status_code == 200
    finally:
        assert stop(serve) == 0


def test_a_worker_that_keeps_dying_is_replaced_ever_more_slowly(tmp_path):
    site = Site(tmp_path)
    serve = site.serve("--concurrency", "1")
    try:
        for _ in range(3):
            victim = poll(lambda: min(workers_of(serve.pid), default=None))
            os.kill(victim, signal.SIGKILL)
            poll(lambda v=victim: f"(pid {v}) exited" in site.log())
        log = site.log()
        assert "replacing it in 0.5 s" in log and "replacing it in 1 s" in log
        assert "replacing it in 2 s" in log
        assert httpx.get(f"{site.url}/healthz").status_code == 200
    finally:
        assert stop(serve) == 0


def web_of(pid):
    return {p for p, cmd in children(pid).items() if "jobportal.web" in cmd}


def test_a_dead_web_process_is_replaced_and_the_port_stays_open(tmp_path):
    site = Site(tmp_path)
    serve = site.serve("--concurrency", "1")
    try:
        workers = poll(lambda: workers_of(serve.pid))
        [web] = web_of(serve.pid)
        os.kill(web, signal.SIGKILL)
        # The supervisor holds the listening socket: a request made while no web process
        # runs waits in its backlog for the replacement instead of being refused.
        assert httpx.get(f"{site.url}/healthz", timeout=30).status_code == 200
        [replacement] = poll(lambda: web_of(serve.pid) - {web})
        assert f"web-1 (pid {web}) exited with -9 (SIGKILL); replacing it" in site.log()
        assert workers_of(serve.pid) == workers and all(alive(p) for p in workers)
        assert alive(replacement)
    finally:
        assert stop(serve) == 0


def test_serve_says_so_when_its_port_is_taken(tmp_path):
    site = Site(tmp_path)
    serve = site.serve("--concurrency", "1")
    try:
        taken = site.spawn("serve", "--port", str(site.port), "--concurrency", "1",
                           log_name="second.log")
        assert taken.wait(timeout=60) == 1
        assert f"Cannot listen on 127.0.0.1:{site.port}" in site.log("second.log")
    finally:
        assert stop(serve) == 0


def test_killing_a_worker_pool_leaves_no_worker_running_its_command(tmp_path):
    site = Site(tmp_path)
    web = site.serve("--no-worker")
    pool = site.spawn("worker", "--concurrency", "2", log_name="pool.log")
    try:
        pk = site.submit("sleep 120")
        poll(lambda: site.status(pk) == "running")
        slots = workers_of(pool.pid)
        assert len(slots) == 2
        pool.kill()
        pool.wait(timeout=10)
        body = poll(lambda: (b := site.api("GET", f"commands/{pk}/").json())["status"]
                    == "error" and b)
        assert body["error_type"] == "WorkerStopped"
        for pid in slots:
            poll(lambda p=pid: not alive(p))
        assert "supervisor gone, stopping the running command now" in site.log("pool.log")
    finally:
        stop(web)


def test_the_access_log_leaves_out_query_strings(tmp_path):
    site = Site(tmp_path)
    serve = site.serve("--no-worker")
    try:
        answer = httpx.get(f"{site.url}/api/v1/commands/?api_key={site.token}")
        assert answer.status_code == 200
        poll(lambda: '"GET /api/v1/commands/ HTTP/1.1" 200' in site.log())
        assert site.token not in site.log()
    finally:
        assert stop(serve) == 0


def raw_get(port, target, token):
    """The status line and head of GET ``target``, sent as is (httpx refuses long URLs)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     f"Authorization: Bearer {token}\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.decode(errors="replace")


def test_a_long_cursor_reaches_the_portal_and_only_an_overlong_url_gets_the_servers_400(
        tmp_path):
    site = Site(tmp_path)
    serve = site.serve("--no-worker")
    try:
        long_cursor = site.api("GET", "commands/", params={"cursor": "A" * 5000})
        assert long_cursor.status_code == 400
        assert long_cursor.headers["Content-Type"] == "application/problem+json"
        assert list(long_cursor.json()["errors"]) == ["cursor"]
        # Past about 64 KiB uvicorn answers before the portal (documented in docs/api.md).
        overlong = raw_get(site.port, "/api/v1/commands/?cursor=" + "A" * 70_000, site.token)
        assert overlong.startswith("HTTP/1.1 400 ")
        assert "Invalid HTTP request received." in overlong
    finally:
        assert stop(serve) == 0


def raw_request(port, head, body_chunks=()):
    """Send ``head`` then ``body_chunks`` as they are; the answer (the server may answer and
    close before the body has gone)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # refused mid-body: the answer is already there
        data = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                data += chunk
    return data.decode(errors="replace")


def test_a_body_larger_than_any_endpoint_accepts_is_413_before_django_spools_it(tmp_path):
    # The ceiling is the largest of the body limits: 10 MiB (DATA_UPLOAD_MAX_MEMORY_SIZE) here.
    site = Site(tmp_path, JOBPORTAL_MAX_DATASET_BYTES="1024", JOBPORTAL_MAX_PACKAGE_BYTES="1024")
    serve = site.serve("--no-worker")
    try:
        declared = raw_request(site.port, "POST /api/v1/commands/ HTTP/1.1\r\nHost: x\r\n"
                               "Content-Type: application/json\r\n"
                               f"Content-Length: {10**12}\r\n\r\n")
        assert declared.startswith("HTTP/1.1 413 ")
        assert "application/problem+json" in declared
        piece = b"x" * 65536
        chunks = (b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(11 * 16 + 1))
        chunked = raw_request(site.port, "POST /api/v1/commands/ HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: application/json\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n", chunks)
        assert chunked.startswith("HTTP/1.1 413 ")
        assert "the most any endpoint accepts" in declared and (
            "the most any endpoint accepts" in chunked)
        small = httpx.post(f"{site.url}/api/v1/commands/", headers=site.headers,
                           json={"command_type": "shell", "script": "true"})
        assert small.status_code == 201
    finally:
        assert stop(serve) == 0
