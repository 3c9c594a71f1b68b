"""Specifications of the bubblewrap sandbox around shell commands: real bwrap, real processes,
no Django. A root test process runs the sandbox as ``nobody``, as a root worker does."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from jobs.executors.sandbox import Bind, SandboxSpec, decode_status, probe
from jobs.executors.shell import ResourceLimits, ShellSpec, run
from tests.executors.test_shell import REPO_ROOT, Recorder, eventually, process_is_gone

NOBODY = pwd.getpwnam("nobody")
AS_ROOT = os.geteuid() == 0
RUN_AS = {"user": NOBODY.pw_uid, "group": NOBODY.pw_gid} if AS_ROOT else {}
PATH_ONLY = {"PATH": "/usr/bin:/bin"}

pytestmark = pytest.mark.skipif(
    probe("bwrap", RUN_AS.get("user"), RUN_AS.get("group")) is not None,
    reason=f"no usable bubblewrap here: {probe('bwrap', RUN_AS.get('user'), RUN_AS.get('group'))}",
)


@pytest.fixture
def workdir():
    """A work directory the sandbox user owns, below directories it may traverse (pytest's
    tmp_path is inside a directory only root may enter)."""
    path = Path(tempfile.mkdtemp(prefix="jobportal-sandbox-test-"))
    path.chmod(0o711)
    work = path / "work"
    work.mkdir()
    if AS_ROOT:
        os.chown(work, NOBODY.pw_uid, NOBODY.pw_gid)
    yield work
    shutil.rmtree(path, ignore_errors=True)


def sandboxed(script, workdir, *, network=False, env=None, binds=(), **options):
    sandbox = SandboxSpec(binds=(Bind(str(workdir), writable=True), *binds), network=network)
    return ShellSpec(argv=["/bin/bash", "-c", script], env=env or dict(PATH_ONLY),
                     cwd=str(workdir), sandbox=sandbox, **RUN_AS, **options)


def run_sandboxed(script, workdir, hooks=None, **options):
    hooks = hooks or Recorder()
    return run(sandboxed(script, workdir, **options), hooks, tick_interval=0.05), hooks


def processes_running(*argv):
    """Host pids of live processes whose command line is exactly `argv`."""
    wanted = b"\0".join(os.fsencode(arg) for arg in argv) + b"\0"
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and Path(f"/proc/{entry}/cmdline").read_bytes() == wanted:
                found.append(int(entry))
        except OSError:
            continue
    return [pid for pid in found if not process_is_gone(pid)]


# --- what the command sees ----------------------------------------------------------------


def test_the_command_sees_neither_the_portal_nor_other_host_files(workdir):
    secret = workdir.parent / "secret_key"
    secret.write_text("portal-secret")
    script = (f"cat {secret} {REPO_ROOT}/manage.py /root/.bashrc /etc/shadow; "
              f"ls -A {workdir.parent} /home /opt /srv; echo ---; ls /")

    _, hooks = run_sandboxed(script, workdir)

    listed, root = hooks.text("stdout").split("---\n")
    assert listed.split() == [f"{workdir.parent}:", "work"]  # no secret_key, no /home...
    assert set(root.split()) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32",
                                 "proc", "sbin", "tmp", "usr", "var"}
    assert hooks.text("stderr").count("No such file or directory") == 4 + 3
    assert "portal-secret" not in hooks.text("stdout")


def test_system_directories_are_read_only(workdir):
    writes = ["touch /usr/x", "touch /bin/x", "echo >> /etc/passwd", "rm /etc/hosts"]
    script = "; ".join(f"({write}) 2>/dev/null || echo refused" for write in writes)

    _, hooks = run_sandboxed(script, workdir)

    assert hooks.text("stdout") == "refused\n" * 4


def test_the_command_writes_its_work_directory_and_a_private_tmp(workdir):
    outcome, hooks = run_sandboxed("echo data > here && cat here && touch /tmp/mine && "
                                   "ls /tmp", workdir)

    assert outcome.exit_code == 0
    data, *in_tmp = hooks.text("stdout").split()
    assert data == "data" and "mine" in in_tmp
    assert (workdir / "here").read_text() == "data\n"
    assert not Path("/tmp/mine").exists()


def test_the_command_sees_only_its_own_processes_and_exactly_its_environment(workdir):
    env = {**PATH_ONLY, "FOO": "bar"}
    script = "ls /proc | grep -c '^[0-9]'; env | grep -v '^_=\\|^PWD=\\|^SHLVL=' | sort"

    _, hooks = run_sandboxed(script, workdir, env=env)

    count, *environment = hooks.text("stdout").splitlines()
    assert int(count) <= 4  # bwrap's init, bash, ls, grep
    assert environment == ["FOO=bar", "PATH=/usr/bin:/bin"]


def test_the_command_has_no_capabilities_and_no_root_uid(workdir):
    _, hooks = run_sandboxed("id -u; grep -E '^Cap(Eff|Bnd)' /proc/self/status", workdir)

    uid, effective, bounding = hooks.text("stdout").splitlines()
    assert uid != "0"
    assert effective.split()[1] == bounding.split()[1] == "0000000000000000"


def test_system_python_and_the_common_tools_work_inside(workdir):
    script = "python3 -c 'import json, ssl; print(json.dumps([1]))'; awk 'BEGIN{print 2}'"

    outcome, hooks = run_sandboxed(script, workdir)

    assert outcome.exit_code == 0, hooks.text("stderr")
    assert hooks.text("stdout") == "[1]\n2\n"


def test_an_extra_read_only_path_is_visible_but_not_writable(workdir):
    tools = workdir.parent / "tools"
    tools.mkdir()
    (tools / "tool.sh").write_text("echo tool")
    tools.chmod(0o755)

    _, hooks = run_sandboxed(f"bash {tools}/tool.sh; touch {tools}/x || echo refused", workdir,
                             binds=(Bind(str(tools)),))

    assert hooks.text("stdout") == "tool\nrefused\n"


# --- network ------------------------------------------------------------------------------


@pytest.fixture
def listener():
    server = socket.create_server(("127.0.0.1", 0))
    yield server.getsockname()[1]
    server.close()


CONNECT = "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 2)'"


def test_by_default_the_command_has_no_network_to_the_hosts_services(workdir, listener):
    outcome, hooks = run_sandboxed(CONNECT.format(port=listener) + " && echo connected",
                                   workdir)

    assert outcome.exit_code != 0
    assert "Connection refused" in hooks.text("stderr")


def test_with_network_on_the_command_reaches_the_hosts_services(workdir, listener):
    _, hooks = run_sandboxed(CONNECT.format(port=listener) + " && echo connected", workdir,
                             network=True)

    assert hooks.text("stdout") == "connected\n", hooks.text("stderr")


# --- ending: signals, timeout, escapes ----------------------------------------------------


def test_cancel_sends_sigterm_to_the_command_so_its_trap_runs(workdir):
    hooks = Recorder(cancel_after_ticks=10)
    script = "trap 'echo cleaned up; exit 3' TERM; echo started; sleep 30 & wait"

    outcome, _ = run_sandboxed(script, workdir, hooks, kill_grace=5)

    assert outcome.cancelled and outcome.exit_code == 3
    assert hooks.text("stdout") == "started\ncleaned up\n"


def test_timeout_terminates_the_sandboxed_command_with_sigterm(workdir):
    outcome, _ = run_sandboxed("sleep 30 & sleep 30", workdir, timeout=0.3, kill_grace=1)

    assert outcome.timed_out and outcome.signal == signal.SIGTERM
    assert eventually(lambda: process_is_gone(outcome.pid))


def test_a_command_ignoring_sigterm_is_killed_with_everything_in_its_sandbox(workdir):
    hooks = Recorder(cancel_after_ticks=3)

    outcome, _ = run_sandboxed("trap '' TERM; sleep 301 & sleep 301", workdir, hooks,
                               kill_grace=0.5)

    assert outcome.cancelled and outcome.signal == signal.SIGKILL
    assert eventually(lambda: processes_running("sleep", "301") == [])


def test_nothing_escapes_the_sandbox_by_setsid_and_a_cleared_environment(workdir):
    outcome, _ = run_sandboxed("setsid -f env -i /bin/sleep 313; sleep 0.5", workdir)

    assert outcome.exit_code == 0
    assert eventually(lambda: processes_running("/bin/sleep", "313") == [])


def test_a_signal_death_inside_is_reported_as_that_signal(workdir):
    outcome, _ = run_sandboxed("kill -KILL $$", workdir)

    assert (outcome.exit_code, outcome.signal) == (None, signal.SIGKILL)


@pytest.mark.parametrize(("returncode", "decoded"), [
    (0, (0, None)), (3, (3, None)), (128, (128, None)), (143, (None, signal.SIGTERM)),
    (137, (None, signal.SIGKILL)), (-9, (None, signal.SIGKILL)), (255, (255, None)),
])
def test_bwraps_return_code_is_decoded_the_shells_way(returncode, decoded):
    assert decode_status(returncode) == decoded


SUPERVISOR = """
import json, sys
sys.path.insert(0, sys.argv[1])
from jobs.executors.sandbox import Bind, SandboxSpec
from jobs.executors.shell import ShellSpec, run

class PrintPid:
    def on_start(self, pid): print(pid, flush=True)
    def on_output(self, stream, data): pass
    def on_progress(self, progress): pass
    def tick(self): return False

user, group = json.loads(sys.argv[3])
sandbox = SandboxSpec(binds=(Bind(sys.argv[2], writable=True),))
run(ShellSpec(argv=["/bin/sleep", "302"], env={}, cwd=sys.argv[2], sandbox=sandbox,
              user=user, group=group), PrintPid())
"""


def test_the_sandbox_dies_when_its_supervisor_is_killed(workdir):
    ids = [RUN_AS.get("user"), RUN_AS.get("group")]
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, str(REPO_ROOT), str(workdir), str(ids).replace(
            "None", "null")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert supervisor.stdout.readline(), supervisor.stderr.read().decode()
        assert eventually(lambda: processes_running("/bin/sleep", "302") != [])

        supervisor.kill()
        supervisor.wait()

        assert eventually(lambda: processes_running("/bin/sleep", "302") == [])
    finally:
        supervisor.kill()
        supervisor.wait()
        supervisor.stdout.close()
        supervisor.stderr.close()


# --- limits and unprivileged workers ------------------------------------------------------

FORK_BOMB = """
import os, sys, time
children = 0
while children < 200:
    try:
        pid = os.fork()
    except OSError as exc:
        sys.exit(f"fork refused after {children} children: {exc.strerror}")
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    children += 1
print("not limited")
"""


@pytest.mark.skipif(not AS_ROOT, reason="the process count of the worker's own uid is unknown")
def test_a_fork_bomb_is_stopped_by_the_process_limit(workdir):
    (workdir / "bomb.py").write_text(FORK_BOMB)

    outcome, hooks = run_sandboxed("exec python3 bomb.py", workdir,
                                   limits=ResourceLimits(processes=32))

    assert outcome.exit_code == 1
    assert "fork refused" in hooks.text("stderr")
    assert "Resource temporarily unavailable" in hooks.text("stderr")
    assert eventually(lambda: processes_running("python3", "bomb.py") == [])


UNPRIVILEGED_SUPERVISOR = """
import sys
sys.path.insert(0, sys.argv[1])
from jobs.executors.sandbox import Bind, SandboxSpec, probe
from jobs.executors.shell import ResourceLimits, ShellSpec, run

class Print:
    def on_start(self, pid): pass
    def on_output(self, stream, data): sys.stdout.write(data.decode())
    def on_progress(self, progress): pass
    def tick(self): return False

assert probe("bwrap") is None, probe("bwrap")
sandbox = SandboxSpec(binds=(Bind(sys.argv[2], writable=True),))
script = "id -u; ls /proc | grep -c '^[0-9]'; echo written > f && cat f; exec python3 bomb.py"
outcome = run(ShellSpec(argv=["/bin/bash", "-c", script], env={"PATH": "/usr/bin:/bin"},
                        cwd=sys.argv[2], sandbox=sandbox,
                        limits=ResourceLimits(processes=32)), Print())
print("exit", outcome.exit_code)
"""


@pytest.mark.skipif(not AS_ROOT, reason="starting a worker as another user needs root")
def test_an_unprivileged_worker_runs_the_sandbox_too(workdir):
    # The system Python: the project's interpreter may live where nobody can read it.
    (workdir / "bomb.py").write_text(FORK_BOMB)
    result = subprocess.run(
        ["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups",
         "/usr/bin/python3", "-c", UNPRIVILEGED_SUPERVISOR, str(REPO_ROOT), str(workdir)],
        capture_output=True, text=True, timeout=60, cwd="/",
    )

    assert result.returncode == 0, result.stderr
    uid, processes, written, *rest = result.stdout.splitlines()
    assert uid == str(NOBODY.pw_uid)
    assert int(processes) <= 4
    assert written == "written"
    assert rest[-1] == "exit 1"  # the fork bomb was refused
    assert eventually(lambda: processes_running("python3", "bomb.py") == [])
