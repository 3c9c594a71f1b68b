"""Ray's own ``JobSubmissionClient`` and ``ray job`` CLI against a live portal (``serve``: uvicorn
and real workers running commands in the sandbox): they must work unchanged."""

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import aiohttp
import httpx
import pytest

from tests.live import Site, poll, stop

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).parent / "ray")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("ray"), JOBPORTAL_MAX_STREAMS_PER_ACCOUNT="4")
    serve = site.serve("--concurrency", "4")
    yield site
    assert stop(serve) == 0


@pytest.fixture(scope="module")
def client(site):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(site.url, headers=site.headers)


def wait_until_done(client, job):
    return poll(lambda: client.get_job_status(job).is_terminal() and client.get_job_info(job))


def test_a_job_with_env_vars_and_metadata_succeeds_with_its_logs(client):
    job = client.submit_job(entrypoint="echo hello $WHO; echo warn >&2",
                            runtime_env={"env_vars": {"WHO": "ray"}},
                            metadata={"team": "data"})
    info = wait_until_done(client, job)
    assert info.status == "SUCCEEDED"
    assert info.metadata == {"team": "data"}
    assert info.runtime_env == {"env_vars": {"WHO": "ray"}}
    assert info.driver_exit_code == 0 and info.error_type is None
    assert info.start_time <= info.end_time
    assert client.get_job_logs(job) == "hello ray\nwarn\n"


def test_a_failing_entrypoint_fails_with_its_exit_code_and_message(client):
    job = client.submit_job(entrypoint="echo about to fail; echo broken >&2; exit 7")
    info = wait_until_done(client, job)
    assert info.status == "FAILED"
    assert info.driver_exit_code == 7
    assert info.error_type == "JOB_ENTRYPOINT_COMMAND_ERROR"
    assert "7" in info.message and "broken" in info.message


def processes_with(marker):
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_stop_ends_a_running_job_and_its_processes(client):
    marker = f"{time.time() % 1000 + 1000:.3f}"  # a sleep length no other process has
    job = client.submit_job(entrypoint=f"sleep {marker} & sleep {marker}; wait")
    poll(lambda: client.get_job_status(job) == "RUNNING" and processes_with(marker.encode()))
    assert client.stop_job(job) is True
    assert wait_until_done(client, job).status == "STOPPED"
    poll(lambda: not processes_with(marker.encode()))
    assert client.stop_job(job) is False


def test_list_delete_and_unknown_ids(client):
    job = client.submit_job(entrypoint="true", submission_id=f"list-{uuid.uuid4().hex[:8]}")
    assert job in {info.submission_id for info in client.list_jobs()}
    wait_until_done(client, job)
    assert client.delete_job(job) is True
    assert job not in {info.submission_id for info in client.list_jobs()}
    for call in (client.get_job_info, client.get_job_logs, client.stop_job, client.delete_job):
        with pytest.raises(RuntimeError, match="404"):
            call(job)


def test_a_duplicate_submission_id_is_refused(client):
    submission_id = f"dup-{uuid.uuid4().hex[:8]}"
    client.submit_job(entrypoint="true", submission_id=submission_id)
    with pytest.raises(RuntimeError, match=r"400.*already exists"):
        client.submit_job(entrypoint="true", submission_id=submission_id)


def test_a_bad_token_is_refused_on_connect(site):
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    with pytest.raises(AuthenticationError):
        JobSubmissionClient(site.url, headers={"Authorization": "Bearer jp_not_a_token"})


def test_tail_job_logs_receives_lines_while_the_job_runs(client):
    # The pause leaves the first line seconds to arrive before the job ends (a loaded machine).
    job = client.submit_job(entrypoint="echo first; sleep 4; echo second")

    async def follow():
        received = []
        async for chunk in client.tail_job_logs(job):
            received.append((chunk, client.get_job_status(job)))
        return received

    received = asyncio.run(follow())
    assert "".join(chunk for chunk, _ in received) == "first\nsecond\n"
    assert received[0][0] == "first\n" and received[0][1] == "RUNNING"
    assert client.get_job_status(job) == "SUCCEEDED"


def ws_status(site, path, headers):
    async def connect():
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(f"{site.url}{path}", headers=headers):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    return asyncio.run(connect())


def test_the_tail_refuses_bad_tokens_unknown_jobs_and_tails_past_the_cap(site, client):
    assert ws_status(site, "/api/jobs/nope/logs/tail", site.headers) == 404
    assert ws_status(site, "/api/jobs/nope/logs/tail", {"Authorization": "Bearer x"}) == 401
    assert ws_status(site, "/api/nothing", site.headers) == 404
    job = client.submit_job(entrypoint="sleep 60")

    async def hold_four_then_try_a_fifth():
        async with aiohttp.ClientSession(headers=site.headers) as session:
            url = f"{site.url}/api/jobs/{job}/logs/tail"
            held = [await session.ws_connect(url) for _ in range(4)]
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(url)
            for ws in held:
                await ws.close()
            return refused.value.status

    assert asyncio.run(hold_four_then_try_a_fifth()) == 429
    poll(lambda: ws_status(site, f"/api/jobs/{job}/logs/tail", site.headers) == 101)
    client.stop_job(job)


def test_a_working_dir_is_uploaded_and_the_entrypoint_runs_in_it(client, tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "data.txt").write_text("shipped\n")
    (tmp_path / "main.sh").write_text("cat lib/data.txt; ls\n")
    job = client.submit_job(entrypoint="sh main.sh", runtime_env={"working_dir": str(tmp_path)})
    info = wait_until_done(client, job)
    assert info.status == "SUCCEEDED", info.message
    assert info.runtime_env["working_dir"].startswith("gcs://_ray_pkg_")
    assert client.get_job_logs(job) == "shipped\nlib\nmain.sh\n"


def test_an_unsafe_archive_is_refused(client, tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escape.sh", "echo out")
    with pytest.raises(RuntimeError, match=r"400.*'\.\.'"):
        client.submit_job(entrypoint="true", runtime_env={"working_dir": str(evil)})


def ray(site, command, *args, **env):
    """``ray job <command> --address <site> *args``; (exit code, output)."""
    run = subprocess.run([RAY, "job", command, "--address", site.url, *args], capture_output=True,
                         text=True, timeout=120, env={**os.environ, **env})
    return run.returncode, run.stdout + run.stderr


def test_the_ray_job_cli_round_trip(site):
    headers = json.dumps(site.headers)
    job = f"cli-{uuid.uuid4().hex[:8]}"
    code, out = ray(site, "submit", "--submission-id", job, "--headers", headers, "--",
                    "echo", "from the cli")
    assert code == 0, out
    assert "from the cli" in out and f"Job '{job}' succeeded" in out
    # The token as Ray's own token authentication sends it.
    token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": site.token}
    code, out = ray(site, "status", job, **token)
    assert code == 0 and f"Job '{job}' succeeded" in out, out
    code, out = ray(site, "logs", job, **token)
    assert code == 0 and "from the cli" in out, out
    code, out = ray(site, "list", **token)
    assert code == 0 and job in out, out
    long_job = f"cli-long-{uuid.uuid4().hex[:8]}"
    code, out = ray(site, "submit", "--no-wait", "--submission-id", long_job, "--", "sleep",
                    "60", **token)
    assert code == 0, out
    poll(lambda: f"job '{long_job}': RUNNING" in ray(site, "status", long_job, **token)[1])
    code, out = ray(site, "stop", long_job, **token)  # waits until the job has stopped
    assert code == 0, out
    assert f"Job '{long_job}' was stopped" in ray(site, "status", long_job, **token)[1]
    code, out = ray(site, "delete", long_job, **token)
    assert code == 0, out
    code, out = ray(site, "status", long_job, **token)
    assert code != 0 and "404" in out


def test_the_portal_api_sees_the_same_jobs(site, client):
    job = client.submit_job(entrypoint="echo same")
    pk = client.get_job_info(job).job_id
    body = httpx.get(f"{site.url}/api/v1/commands/{pk}/", headers=site.headers).json()
    assert body["submission_id"] == job and body["script"] == "echo same"


def test_jobs_and_their_logs_survive_a_restart_of_the_portal(tmp_path):
    from ray.job_submission import JobSubmissionClient

    site = Site(tmp_path)
    serve = site.serve()
    try:
        client = JobSubmissionClient(site.url, headers=site.headers)
        job = client.submit_job(entrypoint="echo kept")
        wait_until_done(client, job)
    finally:
        assert stop(serve) == 0
    serve = site.serve()
    try:
        client = JobSubmissionClient(site.url, headers=site.headers)
        assert client.get_job_status(job) == "SUCCEEDED"
        assert client.get_job_logs(job) == "kept\n"
    finally:
        assert stop(serve) == 0
