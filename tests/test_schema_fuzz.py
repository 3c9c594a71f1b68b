"""Schema fuzzing: schemathesis drives every operation of the OpenAPI document against a live
server and fails on any 5xx, undocumented status code or content type, or a response that
does not match the schema. Bounded by JOBPORTAL_FUZZ_SECONDS (60 by default).

The worker runs shell commands with ``/bin/true`` as the shell, a harmless stand-in for
whatever the fuzzer submits. Left out: revoking tokens (the fuzzer would revoke its own and
lose its credential; covered by the access tests) and event streams (each holds a minute
open on a command that has not ended; covered by the stream tests).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from accounts.models import Account
from tests.jobs.conftest import database_url
from tests.test_serve import free_port, poll

pytestmark = pytest.mark.slow
MANAGE = str(settings.BASE_DIR / "manage.py")
EXCLUDED = r"/api/v1/tokens/\{id\}/$|/events/$"


def test_every_operation_answers_as_the_schema_says(transactional_db, tmp_path, admin,
                                                     work_root):
    import httpx

    Account.objects.filter(pk=admin.account.pk).update(api_rate_limit=10**9)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url(),
           "JOBPORTAL_DATA_DIR": str(tmp_path / "data"), "JOBPORTAL_SHELL": "/bin/true",
           "JOBPORTAL_WORK_ROOT": str(work_root),
           # Synchronous starts (Supermetrics sync_timeout, the toolkit's sync mode) would
           # hold a fuzzing worker for up to a minute each.
           "JOBPORTAL_MAX_SYNC_WAIT_SECONDS": "1",
           "DJANGO_STATIC_ROOT": str(tmp_path / "static"), "PYTHONUNBUFFERED": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    server = subprocess.Popen([sys.executable, MANAGE, "serve", "--port", str(port),
                               "--concurrency", "1"], env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        poll(lambda: httpx.get(f"{base}/healthz").status_code == 200)
        run = subprocess.run(
            [str(Path(sys.executable).parent / "schemathesis"), "run",
             f"{base}/api/schema/?format=json", "-H", f"Authorization: Bearer {admin.token}",
             "--checks", "not_a_server_error,status_code_conformance,"
             "content_type_conformance,response_schema_conformance",
             "--phases", "coverage,fuzzing", "--workers", "2", "--max-time",
             os.environ.get("JOBPORTAL_FUZZ_SECONDS", "60"), "--exclude-path-regex", EXCLUDED,
             "--seed", "7"],
            capture_output=True, text=True, timeout=900, env={**os.environ, "NO_COLOR": "1"})
        assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
