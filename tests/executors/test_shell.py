"""Specifications of the shell executor, exercised with real subprocesses (no Django needed)."""

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jobs.executors.processes import kill_marked_processes
from jobs.executors.shell import (
    ExecutorError,
    Outcome,
    Progress,
    ProgressParser,
    ResourceLimits,
    ShellSpec,
    run,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PATH_ONLY = {"PATH": "/usr/bin:/bin"}


@dataclass
class Recorder:
    """Hooks that remember everything and cancel after `cancel_after_ticks` ticks, if set."""

    cancel_after_ticks: int | None = None
    pids: list[int] = field(default_factory=list)
    chunks: list[tuple[str, bytes]] = field(default_factory=list)
    progress: list[Progress] = field(default_factory=list)
    ticks: int = 0

    def on_start(self, pid: int) -> None:
        self.pids.append(pid)

    def on_output(self, stream: str, data: bytes) -> None:
        self.chunks.append((stream, data))

    def on_progress(self, progress: Progress) -> None:
        self.progress.append(progress)

    def tick(self) -> bool:
        self.ticks += 1
        return self.cancel_after_ticks is not None and self.ticks >= self.cancel_after_ticks

    def text(self, stream: str) -> str:
        return b"".join(data for name, data in self.chunks if name == stream).decode()


def bash(script: str, cwd: Path, env: dict[str, str] | None = None, **options) -> ShellSpec:
    return ShellSpec(
        argv=["/bin/bash", "-c", script], env=env or dict(PATH_ONLY), cwd=str(cwd), **options
    )


def run_bash(script: str, cwd: Path, hooks: Recorder | None = None, *,
             tick_interval: float = 0.05, **options) -> tuple[Outcome, Recorder]:
    hooks = hooks or Recorder()
    outcome = run(bash(script, cwd, **options), hooks, tick_interval=tick_interval)
    return outcome, hooks


def eventually(predicate, within: float = 5.0) -> bool:
    """Poll `predicate` until it holds; signals and reparenting take a moment to settle."""
    give_up_at = time.monotonic() + within
    while not predicate():
        if time.monotonic() > give_up_at:
            return False
        time.sleep(0.02)
    return True


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # Fields after the parenthesised command name: state, ppid, pgrp, ...
    return stat.rsplit(")", 1)[1].split()


def process_is_gone(pid: int) -> bool:
    # An orphan's zombie lingers when PID 1 does not reap; it is dead all the same.
    fields = _stat_fields(pid)
    return fields is None or fields[0] == "Z"


def group_is_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    members = [int(p) for p in os.listdir("/proc") if p.isdigit() and _in_group(int(p), pgid)]
    return all(process_is_gone(pid) for pid in members)


def _in_group(pid: int, pgid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and int(fields[2]) == pgid


# --- exit status, output and environment ---------------------------------------------------


def test_a_successful_command_exits_zero_with_its_stdout_captured(tmp_path):
    outcome, hooks = run_bash("echo hello", tmp_path)

    assert outcome == Outcome(0, None, timed_out=False, cancelled=False, pid=hooks.pids[0])
    assert hooks.text("stdout") == "hello\n"
    assert hooks.text("stderr") == ""


def test_a_failing_command_reports_its_exit_code(tmp_path):
    outcome, _ = run_bash("exit 7", tmp_path)

    assert (outcome.exit_code, outcome.signal) == (7, None)


def test_a_command_ended_by_a_signal_reports_the_signal_and_no_exit_code(tmp_path):
    outcome, _ = run_bash("kill -KILL $$", tmp_path)

    assert (outcome.exit_code, outcome.signal) == (None, signal.SIGKILL)
    assert not outcome.timed_out and not outcome.cancelled


def test_stdout_and_stderr_are_kept_apart_and_in_order(tmp_path):
    script = "echo out1; echo err1 >&2; echo out2; echo err2 >&2; echo out3"

    _, hooks = run_bash(script, tmp_path)

    assert hooks.text("stdout") == "out1\nout2\nout3\n"
    assert hooks.text("stderr") == "err1\nerr2\n"


def test_a_large_output_arrives_complete(tmp_path):
    outcome, hooks = run_bash("head -c 1000000 /dev/zero | tr '\\0' x", tmp_path)

    assert outcome.exit_code == 0
    assert hooks.text("stdout") == "x" * 1_000_000


def test_the_child_sees_exactly_the_environment_given(tmp_path, monkeypatch):
    monkeypatch.setenv("JOBPORTAL_SECRET_TEST", "must-not-leak")
    hooks = Recorder()

    run(ShellSpec(argv=["/usr/bin/env"], env={"FOO": "bar"}, cwd=str(tmp_path)), hooks)

    assert hooks.text("stdout").splitlines() == ["FOO=bar"]


def test_the_command_runs_in_the_given_working_directory(tmp_path):
    _, hooks = run_bash("pwd -P", tmp_path)

    assert hooks.text("stdout") == f"{tmp_path.resolve()}\n"


def test_the_reported_pid_is_the_leader_and_its_process_group(tmp_path):
    outcome, hooks = run_bash('read -r -a stat < /proc/$$/stat; echo "$$ ${stat[4]}"', tmp_path)

    assert hooks.pids == [outcome.pid]
    assert hooks.text("stdout") == f"{outcome.pid} {outcome.pid}\n"


def test_tick_is_called_repeatedly_while_the_command_runs(tmp_path):
    _, hooks = run_bash("sleep 0.5", tmp_path, tick_interval=0.05)

    assert hooks.ticks >= 3


def test_run_can_be_called_repeatedly_without_leaking_file_descriptors(tmp_path):
    run_bash("true", tmp_path)
    open_before = len(os.listdir("/proc/self/fd"))

    outcomes = [run_bash("echo again; echo err >&2", tmp_path)[0] for _ in range(20)]

    assert [outcome.exit_code for outcome in outcomes] == [0] * 20
    assert len(os.listdir("/proc/self/fd")) == open_before


# --- progress ----------------------------------------------------------------------------


def test_progress_lines_are_reported_in_order_and_other_lines_ignored(tmp_path):
    script = "echo '::progress 40'; echo 'working ::progress 50'; echo '::progress 3/7'"

    _, hooks = run_bash(script, tmp_path)

    assert hooks.progress == [Progress(40), Progress(42, ready=3, total=7)]


def test_progress_lines_on_stderr_count_too(tmp_path):
    _, hooks = run_bash("echo '::progress 90' >&2", tmp_path)

    assert hooks.progress == [Progress(90)]


def test_a_last_progress_line_without_newline_is_reported_at_end_of_output(tmp_path):
    _, hooks = run_bash("printf '::progress 100'", tmp_path)

    assert hooks.progress == [Progress(100)]


def test_the_parser_joins_a_line_split_across_feeds():
    parser = ProgressParser()

    assert parser.feed("stdout", b"::prog") == []
    assert parser.feed("stdout", b"ress 2/") == []
    assert parser.feed("stdout", b"4\n::progress 7") == [Progress(50, ready=2, total=4)]
    assert parser.feed("stdout", b"5\n") == [Progress(75)]


def test_the_parser_keeps_a_partial_line_per_stream():
    parser = ProgressParser()

    assert parser.feed("stdout", b"::progress 1") == []
    assert parser.feed("stderr", b"::progress 2\n") == [Progress(2)]
    assert parser.feed("stdout", b"0\n") == [Progress(10)]


@pytest.mark.parametrize("line", [
    b"::progress", b"::progress x", b"::progress 5 extra", b"progress 5", b"::progress 3/0",
    b"::progress -5", b"echo ::progress 5", b"::progress 1/2/3", b"::progress 5%", b"::Progress 5",
])
def test_the_parser_ignores_malformed_lines(line):
    assert ProgressParser().feed("stdout", line + b"\n") == []


@pytest.mark.parametrize(("line", "expected"), [
    (b"::progress 150", Progress(100)),
    (b"::progress 9/7", Progress(100, ready=9, total=7)),
    (b"::progress 0/7", Progress(0, ready=0, total=7)),
    (b"  ::progress\t7 \r", Progress(7)),
])
def test_the_parser_clamps_percent_and_allows_surrounding_whitespace(line, expected):
    assert ProgressParser().feed("stderr", line + b"\n") == [expected]


def test_the_parser_drops_an_overlong_line_without_buffering_it():
    parser = ProgressParser(max_line=64)

    assert parser.feed("stdout", b"::progress 10" + b" " * 100) == []
    assert parser.feed("stdout", b" " * 10_000) == []
    assert parser.feed("stdout", b"\n::progress 20\n") == [Progress(20)]


# --- timeout, cancellation and leftovers --------------------------------------------------


def test_timeout_kills_the_command_and_its_whole_process_group(tmp_path):
    outcome, _ = run_bash("sleep 30 & sleep 30", tmp_path, timeout=0.3, kill_grace=0.5)

    assert outcome.timed_out and not outcome.cancelled
    assert outcome.signal == signal.SIGTERM
    assert eventually(lambda: group_is_gone(outcome.pid))


def test_cancel_escalates_to_sigkill_when_the_command_ignores_sigterm(tmp_path):
    hooks = Recorder(cancel_after_ticks=3)

    outcome, _ = run_bash("trap '' TERM; sleep 30 & sleep 30", tmp_path, hooks, kill_grace=0.5)

    assert outcome.cancelled and not outcome.timed_out
    assert outcome.signal == signal.SIGKILL
    assert hooks.ticks >= 3
    assert eventually(lambda: group_is_gone(outcome.pid))


def test_background_children_are_killed_when_the_leader_exits(tmp_path):
    outcome, hooks = run_bash("sleep 30 & echo $!", tmp_path)
    background_pid = int(hooks.text("stdout"))

    assert outcome.exit_code == 0
    assert eventually(lambda: process_is_gone(background_pid))
    assert eventually(lambda: group_is_gone(outcome.pid))


def test_a_process_that_left_the_group_does_not_keep_run_waiting(tmp_path):
    marker = f"JOBPORTAL_COMMAND_ID={uuid.uuid4()}"
    name, value = marker.split("=")
    env = {**PATH_ONLY, name: value}
    try:
        # The fifo makes the leader wait until the escapee has really left the group.
        script = (
            "mkfifo escaped; setsid bash -c 'echo > escaped; exec sleep 30' &"
            " read < escaped; echo started"
        )
        outcome, hooks = run_bash(script, tmp_path, env=env)

        assert outcome.exit_code == 0
        assert hooks.text("stdout") == "started\n"
    finally:
        # The escapee survives the group kill by design; its marker is how it is found.
        assert kill_marked_processes(marker) == 1


def test_a_hook_that_raises_still_kills_the_command(tmp_path):
    class FailingStart(Recorder):
        def on_start(self, pid: int) -> None:
            super().on_start(pid)
            raise RuntimeError("database gone")

    hooks = FailingStart()
    with pytest.raises(RuntimeError, match="database gone"):
        run_bash("sleep 30 & sleep 30", tmp_path, hooks)

    assert eventually(lambda: group_is_gone(hooks.pids[0]))


# --- resource limits and start failures ---------------------------------------------------


def test_a_file_size_limit_stops_a_large_write(tmp_path):
    limits = ResourceLimits(file_size_bytes=1024)

    outcome, _ = run_bash("head -c 1000000 /dev/zero > f", tmp_path, limits=limits)

    assert outcome.signal == signal.SIGXFSZ or outcome.exit_code not in (0, None)
    assert (tmp_path / "f").stat().st_size <= 1024


@pytest.mark.parametrize(("limits", "ulimit_flag", "shown"), [
    (ResourceLimits(cpu_seconds=7), "-t", "7"),
    (ResourceLimits(memory_bytes=2**30), "-v", str(2**30 // 1024)),
    (ResourceLimits(file_size_bytes=2**20), "-f", str(2**20 // 1024)),
    (ResourceLimits(open_files=64), "-n", "64"),
])
def test_each_limit_is_set_as_both_soft_and_hard(tmp_path, limits, ulimit_flag, shown):
    script = f"ulimit -S {ulimit_flag}; ulimit -H {ulimit_flag}"

    _, hooks = run_bash(script, tmp_path, limits=limits)

    assert hooks.text("stdout") == f"{shown}\n{shown}\n"


def test_a_missing_executable_raises_executor_error(tmp_path):
    spec = ShellSpec(argv=[str(tmp_path / "no-such-program")], env={}, cwd=str(tmp_path))

    with pytest.raises(ExecutorError, match="no-such-program"):
        run(spec, Recorder())


def test_a_missing_working_directory_raises_executor_error(tmp_path):
    with pytest.raises(ExecutorError, match="missing-dir"):
        run_bash("true", tmp_path / "missing-dir")


def test_an_empty_argv_raises_executor_error(tmp_path):
    with pytest.raises(ExecutorError):
        run(ShellSpec(argv=[], env={}, cwd=str(tmp_path)), Recorder())


# --- leftovers of dead workers ------------------------------------------------------------


def test_kill_marked_processes_kills_only_processes_with_the_exact_marker():
    marker = f"JOBPORTAL_COMMAND_ID={uuid.uuid4()}"
    name, value = marker.split("=")
    marked = subprocess.Popen(["/bin/sleep", "30"], env={name: value}, start_new_session=True)
    similar = subprocess.Popen(["/bin/sleep", "30"], env={name: value + "0"},
                               start_new_session=True)
    try:
        assert kill_marked_processes(marker) == 1

        assert marked.wait(timeout=5) == -signal.SIGKILL
        assert similar.poll() is None
    finally:
        marked.kill()
        similar.kill()
        similar.wait()


def test_kill_marked_processes_rejects_a_marker_that_is_not_an_environment_entry():
    with pytest.raises(ValueError):
        kill_marked_processes("JOBPORTAL_COMMAND_ID")


SUPERVISOR = """
import sys
sys.path.insert(0, sys.argv[1])
from jobs.executors.shell import ShellSpec, run

class PrintPid:
    def on_start(self, pid): print(pid, flush=True)
    def on_output(self, stream, data): pass
    def on_progress(self, progress): pass
    def tick(self): return False

run(ShellSpec(argv=["/bin/sleep", "30"], env={}, cwd=sys.argv[2]), PrintPid())
"""


def test_the_command_dies_when_its_supervisor_is_killed(tmp_path):
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, str(REPO_ROOT), str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    line = supervisor.stdout.readline()
    assert line, supervisor.stderr.read().decode()
    child_pid = int(line)
    try:
        assert not process_is_gone(child_pid)

        supervisor.kill()
        supervisor.wait()

        assert eventually(lambda: process_is_gone(child_pid))
    finally:
        supervisor.kill()
        supervisor.stdout.close()
        supervisor.stderr.close()
        if not process_is_gone(child_pid):
            os.kill(child_pid, signal.SIGKILL)
