"""The real ``qds-sdk`` and its ``qds.py`` CLI against a live portal (``manage.py serve``: web
server and workers) on the test database, unchanged: pointed at it with ``api_url``."""

import io
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from accounts.models import Account
from tests.conftest import make_member
from tests.jobs.conftest import database_url
from tests.live import Site, poll, stop

warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
from qds_sdk.commands import Command, PrestoCommand, ShellCommand  # noqa: E402
from qds_sdk.exception import ForbiddenAccess, UnauthorizedAccess  # noqa: E402
from qds_sdk.qubole import Qubole  # noqa: E402

pytestmark = pytest.mark.slow
QDS = str(Path(sys.executable).parent / "qds.py")
SEED = {  # the seed's sample response: field -> a check of our value
    "id": int, "path": str, "status": str, "created_at": str, "updated_at": str,
    "command_type": str, "progress": int, "qbol_session_id": type(None), "qlog": str,
    "resolved_macros": type(None), "template": str, "submit_time": int, "start_time": int,
    "end_time": int, "can_notify": bool, "pool": type(None), "timeout": int,
    "name": type(None), "command_source": str, "nominal_time": type(None),
    "sequence_id": type(None), "account_id": int, "saved_query_mutable_id": type(None),
    "user_id": int, "label": str, "meta_data": dict, "uid": int, "email": str,
    "command": dict, "throttled": bool, "cluster_inst_id": type(None),
    "cluster_id": type(None),
}


@pytest.fixture
def site(transactional_db, tmp_path, admin):
    """The portal serving the test database, with two workers."""
    Account.objects.filter(pk=admin.account.pk).update(api_rate_limit=10**6)
    portal = Site(tmp_path, DATABASE_URL=database_url(), JOBPORTAL_CACHE_URL="locmem",
                  JOBPORTAL_LOG_FLUSH_SECONDS="0.1", JOBPORTAL_HEARTBEAT_SECONDS="0.2")
    server = portal.serve("--concurrency", "2")
    yield portal
    stop(server)


def configure(site, token, retries=0):
    Qubole.configure(api_token=token, api_url=f"{site.url}/api", poll_interval=1,
                     max_retries=retries, base_retry_delay=1)


def qds(site, token, *args):
    run = subprocess.run([sys.executable, QDS, "--token", token, "--url", f"{site.url}/api",
                          "--poll_interval", "1", "--max_retries", "0", *args],
                         capture_output=True, text=True, timeout=120)
    return run


def test_the_sdk_runs_a_shell_command_and_reads_results_logs_and_every_seed_field(site,
                                                                                 admin):
    configure(site, admin.token)
    cmd = ShellCommand.run(inline="echo out; echo err >&2", label="default")
    assert cmd.status == "done"
    out = io.StringIO()
    cmd.get_results(fp=out)
    assert out.getvalue() == "out\n"
    assert cmd.get_log() == "err\n"
    found = ShellCommand.find(cmd.id)
    for field, kind in SEED.items():
        if field == "qlog":  # a shell command has no result schema
            assert found.qlog is None
            continue
        assert isinstance(getattr(found, field), kind), field
    assert found.meta_data == {"results_resource": f"commands/{cmd.id}/results",
                               "logs_resource": f"commands/{cmd.id}/logs"}
    assert found.command["inline"] == "echo out; echo err >&2"
    assert found.email == admin.user.email and found.progress == 100
    assert found.start_time >= found.submit_time and found.end_time >= found.start_time


def test_the_sdk_prints_the_log_live_each_line_once(site, admin, capsys):
    configure(site, admin.token)
    cmd = ShellCommand.run(inline="echo first >&2; sleep 2; echo second >&2; echo out",
                           print_logs_live=True)
    assert cmd.status == "done"
    printed = capsys.readouterr().err
    assert printed.count("first") == 1 and printed.count("second") == 1
    assert "out" not in printed  # stdout is the result, not the log


def test_the_sdk_cancels_a_running_command(site, admin):
    configure(site, admin.token)
    cmd = ShellCommand.create(inline="sleep 60")
    poll(lambda: ShellCommand.find(cmd.id).status == "running")
    cmd.cancel()
    assert poll(lambda: ShellCommand.find(cmd.id).status == "cancelled")


def test_the_sdk_runs_a_sql_command_with_headers(site, admin):
    configure(site, admin.token)
    cmd = PrestoCommand.run(query="select 1 as n, 'x' as s")
    assert (cmd.status, cmd.command_type) == ("done", "PrestoCommand")
    assert json.loads(cmd.qlog)["QBOL-QUERY-SCHEMA"]["-1"][0]["ColumnName"] == "n"
    out = io.StringIO()
    cmd.get_results(fp=out, arguments=["true"])
    assert out.getvalue() == "n\ts\n1\tx\n"


def test_the_sdk_lists_the_history_with_paging_and_filters(site, admin, member):
    configure(site, admin.token)
    ids = [ShellCommand.run(inline="true", name=f"n{i}").id for i in range(3)]
    configure(site, member.token)
    theirs = ShellCommand.run(inline="false")
    assert theirs.status == "error"
    configure(site, admin.token)
    page = Command.list(page=1, per_page=2)
    assert [c["id"] for c in page["commands"]] == ids[:0:-1]
    assert page["paging_info"]["next_page"] == 2
    everyone = Command.list(all_users=1, per_page=100)["commands"]
    assert {c["id"] for c in everyone} == {*ids, theirs.id}
    failed = Command.list(all_users=1, status="error")["commands"]
    assert [c["id"] for c in failed] == [theirs.id]
    assert [c["id"] for c in Command.list(name="n1")["commands"]] == [ids[1]]
    assert Command.list(command_type="HiveCommand")["commands"] == []


def test_beyond_the_concurrency_limit_commands_wait_throttled(site, admin):
    configure(site, admin.token)  # the account runs 2 at once
    held = [ShellCommand.create(inline="sleep 60") for _ in range(3)]
    third = ShellCommand.find(held[2].id)
    assert (third.status, third.throttled) == ("waiting", True)
    for cmd in held:
        cmd.cancel()
    assert poll(lambda: all(ShellCommand.find(c.id).status == "cancelled" for c in held))


def test_an_invalid_token_is_refused_without_retries(site):
    configure(site, "jp_not-a-token", retries=7)  # it retries 429 and 5xx, not 401
    with pytest.raises(UnauthorizedAccess):
        ShellCommand.find(1)
    with pytest.raises(UnauthorizedAccess):
        ShellCommand.create(inline="true")


def test_qds_py_shellcmd_run_check_cancel_getlog_getresult(site, admin):
    run = qds(site, admin.token, "shellcmd", "run", "--script", "echo hi; echo oops >&2")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "hi\n"
    configure(site, admin.token)
    pk = Command.list(per_page=1)["commands"][0]["id"]
    check = qds(site, admin.token, "shellcmd", "check", str(pk))
    assert check.returncode == 0 and json.loads(check.stdout)["status"] == "done"
    log = qds(site, admin.token, "shellcmd", "getlog", str(pk))
    assert log.stdout == "oops\n\n"
    result = qds(site, admin.token, "shellcmd", "getresult", str(pk))
    assert result.stdout == "hi\n"
    submitted = qds(site, admin.token, "shellcmd", "submit", "--script", "sleep 60")
    assert submitted.returncode == 0, submitted.stderr
    running = int(submitted.stdout.split("Id:")[1])
    cancel = qds(site, admin.token, "shellcmd", "cancel", str(running))
    assert (cancel.returncode, cancel.stdout) == (0, "Command killed successfully\n")
    assert poll(lambda: ShellCommand.find(running).status == "cancelled")
    again = qds(site, admin.token, "shellcmd", "cancel", str(running))
    assert again.returncode == 12 and "cancelled" in again.stderr


def test_qds_py_roles_and_groups_grant_rights_to_a_second_member(site, admin, account):
    newcomer = make_member(account, "newcomer@acme.test")
    configure(site, newcomer.token)
    with pytest.raises(ForbiddenAccess):
        ShellCommand.create(inline="true")
    policy = '[{"access": "allow", "resource": "command", "action": ["create", "read"]}]'
    created = qds(site, admin.token, "role", "create", "--name", "runners", "--policy", policy)
    assert created.returncode == 0, created.stderr
    role = json.loads(created.stdout)["roles"]
    assert json.loads(role["policy"]) == [{"access": "allow", "resource": "command",
                                           "action": ["create", "read"]}]
    listed = json.loads(qds(site, admin.token, "role", "list").stdout)
    assert {"system-admin", "system-user", "runners"} <= {r["name"] for r in listed}
    group = json.loads(qds(site, admin.token, "group", "create", "--name", "runners-group")
                       .stdout)["groups"]
    added = qds(site, admin.token, "group", "add-users", str(group["id"]),
                str(newcomer.membership.pk))
    assert added.returncode == 0, added.stderr
    assigned = qds(site, admin.token, "role", "assign-role", str(role["id"]), "--group-id",
                   str(group["id"]))
    assert assigned.returncode == 0, assigned.stderr
    roles = json.loads(qds(site, admin.token, "group", "list-roles", str(group["id"])).stdout)
    assert [r["name"] for r in roles["roles"]] == ["runners"]
    configure(site, newcomer.token)
    cmd = ShellCommand.run(inline="echo granted")
    assert cmd.status == "done"
    # The role runs and reads commands; it makes no roles.
    refused = qds(site, newcomer.token, "role", "create", "--name", "mine", "--policy",
                  '[{"access": "allow", "resource": "all"}]')
    assert refused.returncode == 1 and "Status code 403" in refused.stderr
    holders = json.loads(qds(site, admin.token, "role", "list-groups", str(role["id"])).stdout)
    assert [g["name"] for g in holders["groups"]] == ["runners-group"]
    unassigned = qds(site, admin.token, "role", "unassign-role", str(role["id"]),
                     "--group-id", str(group["id"]))
    assert unassigned.returncode == 0, unassigned.stderr
    configure(site, newcomer.token)
    with pytest.raises(ForbiddenAccess):  # taken away as soon as the change is made
        ShellCommand.create(inline="true")
    deleted = qds(site, admin.token, "role", "delete", str(role["id"]))
    assert json.loads(deleted.stdout) == {"status": "success"}
