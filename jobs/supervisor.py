"""The worker side of one command: run it, stream its output, heartbeat, record how it ended.

Independent of the task engine: the engine only delivers "run command N" to
:func:`run_command`, which claims the command (a conditional update, so duplicates do nothing)
and hands it to a :class:`CommandRun`.
"""

import dataclasses
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import time
from pathlib import Path

from django.conf import settings

from jobs import lifecycle
from jobs.executors import shell
from jobs.lifecycle import Beat
from jobs.logs import LogWriter, tail
from jobs.models import CommandType, Status

logger = logging.getLogger(__name__)

SAFE_BASE_ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


class WorkerContext:
    """What the process running commands tells them: its id and whether it must stop now."""

    worker_id = None

    @staticmethod
    def abort_requested():
        return False


def run_command(command_id):
    """Claim command ``command_id`` for this worker and run it to the end. Never raises for a
    command's own failure; an internal error is recorded on the command and logged."""
    if WorkerContext.worker_id is None:  # under an engine that is not our own worker loop
        WorkerContext.worker_id = new_worker_id()
    identity = lifecycle.WorkerIdentity.here(WorkerContext.worker_id)
    command = lifecycle.claim(command_id, identity)
    if command is None:
        logger.info("command %s: not queued any more (duplicate delivery or cancelled)",
                    command_id)
        return "skipped"
    run = CommandRun(command, abort_requested=WorkerContext.abort_requested)
    try:
        return run.execute()
    except Exception as exc:
        logger.exception("command %s: supervisor failed", command_id)
        # The details (paths, database errors) stay in the worker's log, not with the tenant.
        lifecycle.finish(command, Status.ERROR, error_type="InternalError",
                         error_message=f"The worker failed to supervise this command "
                                       f"({type(exc).__name__}); operators can find it in the "
                                       f"worker log under command {command_id}.")
        return Status.ERROR


def new_worker_id():
    """Unique per worker process: host, pid and a random part (pids repeat across hosts)."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


class CommandRun:
    """Supervises one claimed command; also the hooks object the executors call back."""

    def __init__(self, command, abort_requested=lambda: False):
        self.command = command
        self.config = settings.JOBPORTAL
        self.abort_requested = abort_requested
        self.log = LogWriter(command.pk, self.config["MAX_LOG_BYTES"])
        self.changes = {}
        self.beat = Beat.CONTINUE
        self.aborted = False
        self._last_flush = self._last_beat = time.monotonic()

    # -- executor hooks ---------------------------------------------------------------------

    def on_start(self, pid):
        self.changes["pid"] = pid
        self.sync(force=True)

    def on_output(self, stream, data):
        self.log.append(stream, data)

    def on_progress(self, progress):
        self.changes["progress"] = progress.percent
        if progress.total is not None:
            self.changes.update(steps_ready=progress.ready, steps_total=progress.total)

    def tick(self):
        """Flush logs, heartbeat; True tells the executor to stop the command."""
        if self.abort_requested():
            self.aborted = True
            return True
        self.sync()
        return self.beat in (Beat.CANCEL, Beat.LOST)

    # -- storage ----------------------------------------------------------------------------

    def sync(self, force=False):
        """Write buffered output every LOG_FLUSH_SECONDS; heartbeat every HEARTBEAT_SECONDS
        (or right after writing), which also reads whether a cancel was requested."""
        now = time.monotonic()
        wrote = 0
        if force or now - self._last_flush >= self.config["LOG_FLUSH_SECONDS"]:
            wrote = self.log.flush()
            self._last_flush = now
        if force or wrote or self.changes or (
            now - self._last_beat >= self.config["HEARTBEAT_SECONDS"]
        ):
            self.beat = lifecycle.heartbeat(
                self.command, log_size=self.log.size, log_truncated=self.log.truncated,
                **self.changes,
            )
            self.changes = {}
            self._last_beat = now

    # -- running ----------------------------------------------------------------------------

    def execute(self):
        if self.command.command_type == CommandType.SHELL:
            outcome = self._run_shell()
        else:
            from jobs.sql_runner import run_sql

            outcome = run_sql(self)
        return self._record(outcome)

    def _workdir(self):
        root = Path(self.config["WORK_ROOT"])
        path = root / f"{self.command.pk}-{self.command.attempt}-{self.command.worker_id}"
        (path / "tmp").mkdir(parents=True, mode=0o700, exist_ok=True)
        return path

    def environment(self, workdir):
        """A clean environment: nothing of the worker's own (no secrets), plus the command's
        ``runtime_env.env_vars`` and ``JOBPORTAL_*`` facts; the run marker cannot be overridden."""
        command = self.command
        env = {**SAFE_BASE_ENV, "PATH": self.config["SHELL_PATH"], "HOME": str(workdir),
               "TMPDIR": str(workdir / "tmp")}
        env.update((self.command.runtime_env or {}).get("env_vars") or {})
        env.update({
            "JOBPORTAL_COMMAND_ID": str(command.pk),
            "JOBPORTAL_SUBMISSION_ID": command.submission_id,
            "JOBPORTAL_ACCOUNT": command.account.slug,
            "JOBPORTAL_ATTEMPT": str(command.attempt),
            "JOBPORTAL_WORKDIR": str(workdir),
        })
        key, _, value = lifecycle.run_marker(command.pk, command.worker_id).partition("=")
        env[key] = value
        return env

    def _limits(self):
        c = self.config
        return shell.ResourceLimits(
            cpu_seconds=c["LIMIT_CPU_SECONDS"] or None,
            memory_bytes=c["LIMIT_MEMORY_BYTES"] or None,
            file_size_bytes=c["LIMIT_FILE_SIZE_BYTES"] or None,
            open_files=c["LIMIT_OPEN_FILES"] or None,
        )

    def _run_as(self, workdir):
        """(uid, gid) of the configured run-as user, owning the fresh working directory."""
        name = self.config["RUN_AS_USER"]
        if not name:
            return None, None
        entry = pwd.getpwnam(name)
        for path in (workdir, workdir / "tmp"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        return entry.pw_uid, entry.pw_gid

    def _run_shell(self):
        command = self.command
        workdir = self._workdir()
        cwd = (command.runtime_env or {}).get("working_dir") or str(workdir)
        spec = shell.ShellSpec(
            argv=[self.config["SHELL"], "-c", command.script],
            env=self.environment(workdir), cwd=cwd, timeout=command.timeout,
            limits=self._limits(), kill_grace=self.config["KILL_GRACE_SECONDS"],
        )
        try:
            uid, gid = self._run_as(workdir)
            spec = dataclasses.replace(spec, user=uid, group=gid)
            return shell.run(spec, self, tick_interval=0.1)
        except (KeyError, PermissionError) as exc:
            return {"status": Status.ERROR, "error_type": "StartFailed",
                    "error_message": f"Cannot run as user {self.config['RUN_AS_USER']!r}: "
                                     f"{exc}"}
        except shell.ExecutorError as exc:
            return {"status": Status.ERROR, "error_type": "StartFailed", "error_message": str(exc)}
        finally:
            if not self.config["KEEP_WORKDIRS"]:
                shutil.rmtree(workdir, ignore_errors=True)

    def _record(self, outcome):
        """Flush the last output and write the final status (unless the command was reaped)."""
        self.log.flush()
        if self.beat == Beat.LOST:
            logger.warning("command %s: reaped while running here; outcome not recorded",
                           self.command.pk)
            return Status.ERROR
        fields = outcome if isinstance(outcome, dict) else self._shell_outcome(outcome)
        status = fields.pop("status")
        # Progress reported after the last heartbeat (a last "::progress" line right before
        # exit) is written with the outcome; a command that is done is at 100 %.
        pending, self.changes = self.changes, {}
        if status == Status.DONE:
            pending.pop("progress", None)
        lifecycle.finish(self.command, status, log_size=self.log.size,
                         log_truncated=self.log.truncated, **{**pending, **fields})
        return status

    def _shell_outcome(self, outcome):
        code = outcome.exit_code
        if outcome.signal:
            code = 128 + outcome.signal
        fields = {"exit_code": code}
        if self.aborted:
            return {**fields, "status": Status.ERROR, "error_type": "WorkerStopped",
                    "error_message": "The worker was stopped while the command ran."}
        if outcome.cancelled:
            return {**fields, "status": Status.CANCELLED}
        if outcome.timed_out:
            return {**fields, "status": Status.ERROR, "error_type": "Timeout",
                    "error_message": f"Killed after its timeout of {self.command.timeout} s."
                                     + self._tail()}
        if code == 0:
            return {**fields, "status": Status.DONE}
        if outcome.signal:
            name = signal.Signals(outcome.signal).name
            return {**fields, "status": Status.ERROR, "error_type": "Killed",
                    "error_message": f"Terminated by {name}." + self._tail()}
        return {**fields, "status": Status.ERROR, "error_type": "NonZeroExit",
                "error_message": f"Exited with code {code}." + self._tail()}

    def _tail(self):
        text = tail(self.command.pk, self.log.stream_sizes["stderr"], 2000, stream="stderr")
        if not text.strip():
            text = tail(self.command.pk, self.log.stream_sizes["stdout"], 2000, stream="stdout")
        return f"\n--- last output ---\n{text}" if text.strip() else ""
