"""Run one shell command under supervision on Linux (standard library only; no Django).

The command gets its own session (process group id == pid), exactly the environment given,
optional resource limits and a parent-death signal; with a sandbox
(:class:`jobs.executors.sandbox.SandboxSpec`) it runs inside bubblewrap, and the process group
signalled is the sandbox's. `run` streams output to hooks, parses progress lines, heartbeats
and cancels through `tick`, enforces a wall-clock timeout, and makes sure nothing of the
command's process group (in a sandbox: nothing of the sandbox) outlives it.
"""

import ctypes
import functools
import os
import re
import resource
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Protocol

from jobs.executors import sandbox as sandboxing

READ_SIZE = 64 * 1024
MAX_LINE_BYTES = 4 * 1024
# How long to keep reading after the leader is gone and its group killed. Only a process that
# left the group (setsid) can still hold a pipe open by then, and we must not wait for it.
DRAIN_TIMEOUT = 1.0

_PR_SET_PDEATHSIG = 1
MAX_STEPS = 2**31 - 1
_PROGRESS_LINE = re.compile(rb"::progress[ \t]+(\d{1,18})(?:/(\d{1,18}))?")


class ExecutorError(Exception):
    """The command could not be started (missing executable or cwd, bad env, bad limits)."""


@dataclass(frozen=True)
class ResourceLimits:
    """Kernel resource limits applied to the command; soft and hard are both set to the value."""

    cpu_seconds: int | None = None  # RLIMIT_CPU
    memory_bytes: int | None = None  # RLIMIT_AS
    file_size_bytes: int | None = None  # RLIMIT_FSIZE
    open_files: int | None = None  # RLIMIT_NOFILE
    # RLIMIT_NPROC. The kernel counts processes per real uid (all of that uid's on the
    # machine), and never limits root: it bites only for commands run as an ordinary user.
    processes: int | None = None

    def __post_init__(self) -> None:
        # Checked here because a bad value found in the forked child comes back to the parent
        # only as an anonymous "Exception occurred in preexec_fn".
        for resource_id, value in self.as_rlimits():
            if value < 0:
                raise ValueError(f"resource limit {resource_id} must not be negative: {value}")

    def as_rlimits(self) -> list[tuple[int, int]]:
        """The limits that are set, as (RLIMIT_* constant, value) pairs."""
        pairs = [
            (resource.RLIMIT_CPU, self.cpu_seconds),
            (resource.RLIMIT_AS, self.memory_bytes),
            (resource.RLIMIT_FSIZE, self.file_size_bytes),
            (resource.RLIMIT_NOFILE, self.open_files),
            (resource.RLIMIT_NPROC, self.processes),
        ]
        return [(resource_id, value) for resource_id, value in pairs if value is not None]


@dataclass(frozen=True)
class ShellSpec:
    """What to run and how: `env` is the child's complete environment, nothing is inherited."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    timeout: float | None = None  # wall-clock seconds since start
    limits: ResourceLimits = ResourceLimits()
    kill_grace: float = 5.0  # seconds between SIGTERM and SIGKILL of the process group
    # Run as this uid/gid (needs a privileged worker). Set before the parent-death signal,
    # because a credential change clears that signal.
    user: int | None = None
    group: int | None = None
    # Run inside this bubblewrap sandbox; `argv`, `env` and `cwd` then apply inside it.
    sandbox: sandboxing.SandboxSpec | None = None


@dataclass(frozen=True)
class Progress:
    """One parsed progress line; `percent` is clamped to 0..100 by the parser."""

    percent: int
    ready: int | None = None  # steps done, when the line was "::progress 3/7"
    total: int | None = None


class ShellHooks(Protocol):
    """Callbacks through which `run` reports to, and takes orders from, its caller."""

    def on_start(self, pid: int) -> None: ...  # pid is also the process group id (in a
    # sandbox: of its init, whose group holds the command unless it left it)
    def on_output(self, stream: str, data: bytes) -> None: ...  # "stdout"/"stderr", in order
    def on_progress(self, progress: Progress) -> None: ...
    def tick(self) -> bool: ...  # at least every tick interval; True requests cancellation


@dataclass(frozen=True)
class Outcome:
    """How the command ended."""

    exit_code: int | None  # None if a signal ended it
    signal: int | None
    timed_out: bool
    cancelled: bool
    pid: int


def parse_progress_line(line: bytes) -> Progress | None:
    """Parse `::progress N` or `::progress A/B` (surrounding whitespace allowed), else None."""
    match = _PROGRESS_LINE.fullmatch(line.strip())
    if match is None:
        return None
    if match[2] is None:
        return Progress(percent=min(100, int(match[1])))
    ready, total = int(match[1]), int(match[2])
    if total == 0:
        return None
    percent = min(100, ready * 100 // total)
    # Counts are stored in 32-bit columns; a command printing bigger ones keeps its percent.
    return Progress(percent=percent, ready=min(ready, MAX_STEPS), total=min(total, MAX_STEPS))


class ProgressParser:
    """Finds progress lines in output that arrives in arbitrary chunks, one buffer per stream.

    A partial line longer than `max_line` bytes cannot be a progress line, so it is dropped up
    to its newline instead of being buffered: a command printing one endless line costs no memory.
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._max_line = max_line
        self._partial: dict[str, bytearray] = {}
        self._skipping: set[str] = set()  # streams in the middle of an over-long line

    def feed(self, stream: str, data: bytes) -> list[Progress]:
        """Consume a chunk of `stream` and return the progress of the lines it completed."""
        *complete, tail = data.split(b"\n")
        lines = [self._finish_line(stream, piece) for piece in complete]
        self._keep_partial(stream, tail)
        return [progress for progress in map(parse_progress_line, lines) if progress]

    def close(self, stream: str) -> list[Progress]:
        """The stream ended: its unterminated last line, if any, counts as a line."""
        progress = parse_progress_line(self._finish_line(stream, b""))
        return [progress] if progress else []

    def _finish_line(self, stream: str, piece: bytes) -> bytes:
        # An over-long line comes back empty, which parses as nothing.
        if stream in self._skipping:
            self._skipping.discard(stream)
            return b""
        buffered = self._partial.pop(stream, None)
        line = bytes(buffered) + piece if buffered else piece
        return line if len(line) <= self._max_line else b""

    def _keep_partial(self, stream: str, tail: bytes) -> None:
        if not tail or stream in self._skipping:
            return
        buffered = self._partial.setdefault(stream, bytearray())
        buffered += tail
        if len(buffered) > self._max_line:
            del self._partial[stream]
            self._skipping.add(stream)


@functools.cache
def _prctl():
    # Resolved in the parent: the forked child should do as little as possible before exec.
    return ctypes.CDLL(None, use_errno=True).prctl


def _prepare_child(limits: ResourceLimits, parent_pid: int, prctl) -> None:
    """Runs in the forked child before exec (preexec_fn)."""
    for resource_id, value in limits.as_rlimits():
        # An unprivileged process cannot raise its hard limit; the existing one is stricter.
        _, hard = resource.getrlimit(resource_id)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(resource_id, (value, value))
    if prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0),
             ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    # The parent may have died before prctl took effect; then no signal will ever come.
    if os.getppid() != parent_pid:
        os._exit(1)


def _start(spec: ShellSpec) -> tuple[subprocess.Popen, int]:
    """The started process and the process group to signal."""
    if not spec.argv:
        raise ExecutorError("cannot start a command with an empty argv")
    prepare = functools.partial(_prepare_child, spec.limits, os.getpid(), _prctl())
    argv, cwd, pass_fds, launch = spec.argv, spec.cwd, (), None
    try:
        if spec.sandbox is not None:
            launch = sandboxing.Launch(spec.sandbox, spec.argv, spec.env, spec.cwd)
            # bwrap itself starts in "/", which any user may enter; --chdir does the rest.
            argv, cwd, pass_fds = launch.argv, "/", launch.pass_fds
        proc = subprocess.Popen(
            argv, env=spec.env, cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            close_fds=True, pass_fds=pass_fds, preexec_fn=prepare, user=spec.user,
            group=spec.group, extra_groups=[] if spec.user is not None else None,
        )
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        if launch is not None:
            launch.close()
        raise ExecutorError(f"cannot start {argv[0]!r} in {cwd!r}: {exc}") from exc
    if launch is None:
        return proc, proc.pid
    try:
        launch.started()
        # None: bwrap failed before there was a sandbox; it exits and says why on stderr.
        return proc, launch.init_pid() or proc.pid
    finally:
        launch.close()


def run(spec: ShellSpec, hooks: ShellHooks, *, tick_interval: float = 0.25) -> Outcome:
    """Run `spec` to completion, reporting through `hooks`, and return how it ended.

    Raises ExecutorError if the command cannot be started. If a hook raises, the command's
    process group is killed and the exception propagates. Must be called from a thread that
    outlives the command (run blocks, so any caller does): the parent-death signal follows the
    thread that forked the child.
    """
    proc, group = _start(spec)
    supervision = _Supervision(proc, group, spec, hooks, tick_interval)
    try:
        hooks.on_start(group)
        return supervision.supervise()
    finally:
        supervision.close()


class _Supervision:
    """The event loop of one running command: pipes, ticks, deadlines and the kill sequence."""

    def __init__(self, proc: subprocess.Popen, group: int, spec: ShellSpec, hooks: ShellHooks,
                 tick_interval: float) -> None:
        self.proc, self.spec, self.hooks = proc, spec, hooks
        # In a sandbox, SIGTERM goes to the group of the sandbox's init, which holds the
        # command (init itself ignores it); SIGKILL also goes to bwrap outside, and killing
        # init, which a signal from outside its namespace does, ends every process inside.
        self.group = group
        self.tick_interval = tick_interval
        self.parser = ProgressParser()
        self.selector = selectors.DefaultSelector()
        for stream, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            os.set_blocking(pipe.fileno(), False)
            self.selector.register(pipe, selectors.EVENT_READ, stream)
        self.pidfd = self._watch_leader()
        now = time.monotonic()
        self.deadline = now + spec.timeout if spec.timeout is not None else None
        self.next_tick = now
        self.kill_at: float | None = None  # set once SIGTERM was sent
        self.killed = False
        self.drain_until: float | None = None  # set once the leader was reaped
        self.timed_out = self.cancelled = False

    def _watch_leader(self) -> int | None:
        # A pidfd wakes the loop the moment the leader exits, even while some background child
        # keeps the pipes open; without one the loop still polls once per tick.
        try:
            pidfd = os.pidfd_open(self.proc.pid)
        except OSError:
            return None
        self.selector.register(pidfd, selectors.EVENT_READ, "exit")
        return pidfd

    def supervise(self) -> Outcome:
        while not self._finished():
            for key, _ in self.selector.select(self._seconds_to_next_event()):
                if key.data != "exit":
                    self._read(key)
            now = time.monotonic()
            if self.proc.returncode is None and self._leader_exited():
                self._reap(now)
            self._tick(now)
            self._enforce_deadlines(now)
        code = self.proc.returncode
        if self.spec.sandbox is not None:
            exit_code, signal_number = sandboxing.decode_status(code)
        else:
            exit_code, signal_number = (code, None) if code >= 0 else (None, -code)
        return Outcome(
            exit_code=exit_code, signal=signal_number, timed_out=self.timed_out,
            cancelled=self.cancelled, pid=self.group,
        )

    def _finished(self) -> bool:
        if self.drain_until is None:
            return False
        pipes_open = any(key.data != "exit" for key in self.selector.get_map().values())
        return not pipes_open or time.monotonic() >= self.drain_until

    def _seconds_to_next_event(self) -> float:
        events = [self.next_tick, self.drain_until]
        if self.proc.returncode is None:
            events.append(self.kill_at if self.kill_at is not None else self.deadline)
        upcoming = min(event for event in events if event is not None)
        return max(0.0, upcoming - time.monotonic())

    def _read(self, key: selectors.SelectorKey) -> None:
        try:
            data = os.read(key.fd, READ_SIZE)
        except BlockingIOError:
            return
        stream = key.data
        if data:
            self.hooks.on_output(stream, data)
            progresses = self.parser.feed(stream, data)
        else:
            self.selector.unregister(key.fileobj)
            key.fileobj.close()
            progresses = self.parser.close(stream)
        for progress in progresses:
            self.hooks.on_progress(progress)

    def _leader_exited(self) -> bool:
        # WNOWAIT leaves the leader a zombie, so its pid (our process group id) cannot be reused
        # before _reap has killed what is left of the group.
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return os.waitid(os.P_PID, self.proc.pid, flags) is not None

    def _reap(self, now: float) -> None:
        self._signal_group(signal.SIGKILL)
        self.proc.wait()
        self.drain_until = now + DRAIN_TIMEOUT
        self._forget_pidfd()

    def _tick(self, now: float) -> None:
        if now < self.next_tick:
            return
        self.next_tick = now + self.tick_interval
        if self.hooks.tick() and self._terminate(now):
            self.cancelled = True

    def _enforce_deadlines(self, now: float) -> None:
        if self.proc.returncode is not None:
            return
        if self.deadline is not None and now >= self.deadline and self._terminate(now):
            self.timed_out = True
        elif self.kill_at is not None and now >= self.kill_at and not self.killed:
            self._signal_group(signal.SIGKILL)
            self.killed = True

    def _terminate(self, now: float) -> bool:
        """Start the kill sequence unless it already started or the leader is gone."""
        if self.proc.returncode is not None or self.kill_at is not None:
            return False
        self._signal_group(signal.SIGTERM)
        self.kill_at = now + self.spec.kill_grace
        return True

    def _signal_group(self, sig: int) -> None:
        groups = {self.group}
        if sig == signal.SIGKILL:
            groups.add(self.proc.pid)
        for group in groups:
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                continue  # the whole group is already gone

    def _forget_pidfd(self) -> None:
        if self.pidfd is not None:
            self.selector.unregister(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None

    def close(self) -> None:
        """Release everything; if supervision was cut short, kill the command first."""
        if self.proc.returncode is None:
            self._signal_group(signal.SIGKILL)
            self.proc.wait()
        self._forget_pidfd()
        for key in list(self.selector.get_map().values()):
            self.selector.unregister(key.fileobj)
            key.fileobj.close()
        self.selector.close()
