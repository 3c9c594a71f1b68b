"""Shell commands run in the sandbox, end to end: real worker processes, real bubblewrap, the
real test database (SQLite and PostgreSQL). Each attack here worked against unsandboxed
commands (issue 8)."""

import os
import shlex
import signal
import socket
from pathlib import Path

import pytest
from django.db import connection

from accounts.models import ApiToken, hash_token
from tests.conftest import client_for
from tests.executors.test_sandbox import FORK_BOMB
from tests.jobs.conftest import wait_for
from tests.jobs.test_worker_processes import command, logs, submit

pytestmark = pytest.mark.slow

FORGED = "jp_forged-by-a-shell-command-0123456789"
WORKER_SECRET = "worker-env-secret-4f1c"


def forge_token_script(membership_id):
    """A command that inserts an API token for `membership_id` straight into the database."""
    sql = ("INSERT INTO accounts_apitoken (membership_id, name, prefix, token_hash, created_at) "
           f"VALUES ({membership_id}, 'forged', 'jp_forged', '{hash_token(FORGED)}', "
           "'2026-01-01 00:00:00+00')")
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        code = (f"import sqlite3; c = sqlite3.connect('file:{db['NAME']}?mode=rw', uri=True); "
                f"c.execute({sql!r}); c.commit(); print('inserted')")
        return f"python3 -c {shlex.quote(code)}"
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    user = db.get("USER") or "postgres"
    return (f"psql -h {host} -p {port} -U {user} -d {db['NAME']} -c {shlex.quote(sql)} "
            "&& echo inserted")


def sandboxed_pids(*argv):
    wanted = b"\0".join(os.fsencode(arg) for arg in argv) + b"\0"
    pids = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and Path(f"/proc/{entry}/cmdline").read_bytes() == wanted:
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


def test_a_shell_command_can_neither_read_the_portals_secrets_nor_forge_a_token(
    member, outsider, start_worker, worker_env
):
    secret_key = Path(worker_env["JOBPORTAL_DATA_DIR"]) / "secret_key"
    worker = start_worker(env={"JOBPORTAL_TEST_WORKER_SECRET": WORKER_SECRET})
    tokens_before = ApiToken.objects.count()
    script = "; ".join([
        f"cat {secret_key} || echo no-secret-key",
        f"head -c 16 {connection.settings_dict['NAME']} | od -c | head -1 || echo no-db-file",
        f"cat /proc/{worker.pid}/environ || echo no-worker-environ",
        "tr '\\0' '\\n' < /proc/$PPID/environ",
        forge_token_script(outsider.membership.pk) + " || echo no-insert",
    ])
    pk = submit(member, script)

    done = wait_for(lambda: (c := command(pk)).is_terminal and c, message="command done")
    output = logs(member, pk)

    assert secret_key.exists() and secret_key.read_text().strip() not in output
    assert "SQLite format" not in output and "S   Q   L   i   t   e" not in output
    assert WORKER_SECRET not in output and "DATABASE_URL" not in output
    assert "no-secret-key" in output and "no-worker-environ" in output
    assert "inserted" not in output and "no-insert" in output
    assert ApiToken.objects.count() == tokens_before
    assert client_for(FORGED).get("/api/v1/commands/").status_code == 401
    assert done.status == "done", done.error_message


def test_nothing_of_a_command_survives_it_by_setsid_and_env_minus_i(member, start_worker):
    pk = submit(member, "setsid -f env -i /bin/sleep 313; sleep 0.5")
    start_worker("--once").wait(timeout=60)
    try:
        assert command(pk).status == "done"
        assert wait_for(lambda: sandboxed_pids("/bin/sleep", "313") == [], 10,
                        message="no sleep 313 left")
    finally:
        for pid in sandboxed_pids("/bin/sleep", "313"):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def host_service():
    """A TCP service on the host's loopback, like PostgreSQL or Redis with trust auth."""
    server = socket.create_server(("127.0.0.1", 0))
    yield server.getsockname()[1]
    server.close()


def connect_script(port):
    code = f"import socket; socket.create_connection(('127.0.0.1', {port}), 2); print('reached')"
    return f"python3 -c {shlex.quote(code)}"


def test_by_default_a_command_cannot_reach_services_on_the_hosts_loopback(
    member, start_worker, host_service
):
    pk = submit(member, connect_script(host_service))
    start_worker("--once").wait(timeout=60)
    failed = command(pk)
    assert (failed.status, failed.error_type) == ("error", "NonZeroExit")
    assert "Connection refused" in failed.error_message
    assert "reached" not in logs(member, pk)


def test_commands_of_a_listed_label_share_the_hosts_network(member, start_worker, host_service):
    pk = submit(member, connect_script(host_service), label="net")
    start_worker("--queues", "net", "--once",
                 env={"JOBPORTAL_SANDBOX_NETWORK_LABELS": "net"}).wait(timeout=60)
    done = command(pk)
    assert done.status == "done", done.error_message
    assert logs(member, pk) == "reached\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="the limit counts every process of the worker's "
                    "uid; only a root worker runs commands as a user of their own (nobody)")
def test_a_fork_bomb_is_stopped_by_the_process_limit_and_the_worker_goes_on(
    member, start_worker
):
    bomb = submit(member, f"python3 -c {shlex.quote(FORK_BOMB)}")
    after = submit(member, "echo still serving")
    start_worker(env={"JOBPORTAL_LIMIT_PROCESSES": "32"})
    failed = wait_for(lambda: (c := command(bomb)).is_terminal and c, message="bomb ended")
    assert (failed.status, failed.error_type) == ("error", "NonZeroExit")
    assert "fork refused" in failed.error_message
    assert "Resource temporarily unavailable" in failed.error_message
    done = wait_for(lambda: (c := command(after)).is_terminal and c, message="next command")
    assert done.status == "done"
    assert logs(member, after) == "still serving\n"


def test_without_bubblewrap_a_shell_command_is_refused(member, start_worker):
    pk = submit(member, "echo must not run")
    worker = start_worker("--once", env={"JOBPORTAL_BWRAP": "/nonexistent/bwrap"})
    worker.wait(timeout=60)
    refused = command(pk)
    assert (refused.status, refused.error_type) == ("error", "SandboxUnavailable")
    assert "/nonexistent/bwrap" in refused.error_message
    assert logs(member, pk) == ""
    assert "sandbox: unavailable" in Path(worker.log_path).read_text()


def test_with_the_sandbox_off_a_shell_command_runs_unsandboxed(member, start_worker):
    pk = submit(member, "test -d /proc/1/ && ls /proc | grep -c '^[0-9]'")
    worker = start_worker("--once", env={"JOBPORTAL_SANDBOX": "off",
                                         "JOBPORTAL_BWRAP": "/nonexistent/bwrap"})
    worker.wait(timeout=60)
    done = command(pk)
    assert done.status == "done", done.error_message
    assert int(logs(member, pk)) > 4  # the host's processes: no PID namespace of its own
    assert "sandbox: off" in Path(worker.log_path).read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root worker runs commands as another user")
def test_a_work_root_the_command_user_cannot_reach_makes_the_sandbox_unavailable(
    member, start_worker, tmp_path
):
    private = tmp_path / "private"  # below pytest's root-only directory
    pk = submit(member, "echo must not run")
    start_worker("--once", env={"JOBPORTAL_WORK_ROOT": str(private / "work")}).wait(timeout=60)
    refused = command(pk)
    assert (refused.status, refused.error_type) == ("error", "SandboxUnavailable")
    assert "must be traversable by nobody" in refused.error_message


def test_an_allowed_working_dir_is_bound_read_write_at_its_own_path(
    member, start_worker, work_root, settings
):
    shared = work_root / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    (shared / "input.txt").write_text("from the host\n")
    settings.JOBPORTAL = {**settings.JOBPORTAL, "ALLOWED_WORKING_DIRS": [str(work_root)]}
    pk = submit(member, "pwd; cat input.txt; echo result > output.txt",
                runtime_env={"working_dir": str(shared)})
    start_worker("--once").wait(timeout=60)
    done = command(pk)
    assert done.status == "done", done.error_message
    assert logs(member, pk) == f"{shared}\nfrom the host\n"
    assert (shared / "output.txt").read_text() == "result\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root worker runs commands as another user")
def test_a_root_worker_runs_commands_as_nobody_with_the_process_limit(member, start_worker):
    pk = submit(member, "id -u; ulimit -u")
    start_worker("--once").wait(timeout=60)
    assert logs(member, pk) == "65534\n256\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root worker can be told to stay root")
def test_a_sandbox_is_never_run_as_root(member, start_worker):
    pk = submit(member, "echo must not run")
    start_worker("--once", env={"JOBPORTAL_RUN_AS_USER": "root"}).wait(timeout=60)
    refused = command(pk)
    assert (refused.status, refused.error_type) == ("error", "SandboxUnavailable")
    assert "would run as root" in refused.error_message
