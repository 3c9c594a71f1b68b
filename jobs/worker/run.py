"""The worker side of one command: run it, stream its output, heartbeat, record how it ended.

Independent of the task engine: the engine only delivers "run command N" to
:func:`run_command`, which claims the command (a conditional update, so duplicates do nothing)
and hands it to a :class:`CommandRun`.
"""

import logging
import os
import secrets
import socket
import threading
import time

from django.conf import settings

from jobs import lifecycle
from jobs.lifecycle import Beat
from jobs.logs import LogWriter
from jobs.models import CommandType, Status

logger = logging.getLogger(__name__)
FLUSH_BYTES = 1024 * 1024  # buffered output written at once, whatever the flush interval


class _WorkerContext(threading.local):
    """What the worker slot running commands on this thread tells them: its id and whether
    it must stop now. Per thread, because one worker process may run several slots."""

    worker_id = None

    @staticmethod
    def abort_requested():
        return False


WorkerContext = _WorkerContext()


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
        if self.log.pending >= FLUSH_BYTES:
            # A fast writer must not pile up a flush interval's worth of output in memory.
            self.sync(flush=True)

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

    def sync(self, force=False, flush=False):
        """Write buffered output every LOG_FLUSH_SECONDS (or at once with ``flush``, when
        FLUSH_BYTES are buffered); heartbeat every HEARTBEAT_SECONDS (or right after
        writing), which also reads whether a cancel was requested."""
        now = time.monotonic()
        wrote = 0
        if force or flush or now - self._last_flush >= self.config["LOG_FLUSH_SECONDS"]:
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
        """Run the command (shell | sql) and record how it ended."""
        if self.command.command_type == CommandType.SHELL:
            from jobs.worker.shell import run_shell

            outcome = run_shell(self)
        else:
            from jobs.worker.sql import run_sql

            outcome = run_sql(self)
        return self._record(outcome)

    def _record(self, outcome):
        """Flush the last output and write the final status (unless the command was reaped)."""
        self.log.flush()
        if self.beat == Beat.LOST:
            logger.warning("command %s: reaped while running here; outcome not recorded",
                           self.command.pk)
            return Status.ERROR
        fields = dict(outcome)
        status = fields.pop("status")
        # Progress reported after the last heartbeat (a last "::progress" line right before
        # exit) is written with the outcome; a command that is done is at 100 %.
        pending, self.changes = self.changes, {}
        if status == Status.DONE:
            pending.pop("progress", None)
        lifecycle.finish(self.command, status, log_size=self.log.size,
                         log_truncated=self.log.truncated, **{**pending, **fields})
        return status
