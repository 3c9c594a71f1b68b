"""Run one SQL command on the worker: the glue between :class:`jobs.worker.run.CommandRun` and
the Django-free executor in :mod:`jobs.executors.sql`.

- The spec comes from the command's data source, or the account's built-in one (DuckDB in
  memory with the account's datasets as tables and external access off).
- Rows stream into :class:`~jobs.models.ResultChunk` rows, one per batch, so the worker holds
  one batch whatever the result size. Only a successful run leaves chunks behind.
- Statements done / total are the progress (Supermetrics' ``queries_ready`` / ``queries_total``).
- The executor calls the hooks on this (main) thread between batches; that is where logs are
  flushed and heartbeats sent (``CommandRun.sync``). A statement can run for a long time
  without delivering a batch, so a pulse thread heartbeats on its own database connection
  while the main thread is quiet; otherwise the reaper would take a long query for a dead
  worker, and a cancel would wait for the statement to end.
- The executor's watcher thread polls ``should_cancel``, which only reads a flag.
"""

import logging
import tempfile
import threading
import time
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

from jobs import datasets, lifecycle
from jobs.executors import sql
from jobs.executors.sql import SqlError, SqlSpec
from jobs.lifecycle import Beat
from jobs.models import Dataset, DataSource, ResultChunk, Status

logger = logging.getLogger(__name__)

PULSE_POLL_SECONDS = 0.2


def run_sql(run):
    """Run ``run.command`` (a claimed SQL command); return the outcome dict for
    ``CommandRun._record``. Never raises for the query's own failure."""
    return SqlCommandRun(run).execute()


class SqlCommandRun:
    """One SQL command's run; also the hooks object the executor calls back."""

    def __init__(self, run):
        self.run = run
        self.command = run.command
        self.config = settings.JOBPORTAL
        self.columns = []
        self.row_count = 0
        self.seq = 0
        self.stop = threading.Event()
        self.stop_reason = None  # "cancel" | "abort" | "lost", set by either thread
        self.last_contact = time.monotonic()
        self._lock = threading.Lock()

    def execute(self):
        # A chunk left by an earlier attempt of this command would corrupt the new result.
        ResultChunk.objects.filter(command_id=self.command.pk).delete()
        try:
            with self.spec() as spec, Pulse(self):
                outcome = sql.run(spec, self, batch_size=self.config["RESULT_CHUNK_ROWS"])
        except SqlError as exc:
            return self.failed(exc)
        finally:
            if self.stop_reason == "lost":
                self.run.beat = Beat.LOST  # reaped meanwhile: record nothing
        note = " (truncated at the result limit)" if outcome.truncated else ""
        self.log(f"{outcome.row_count} row(s){note}")
        return {
            "status": Status.DONE, "result_columns": self.columns,
            "result_row_count": outcome.row_count, "result_truncated": outcome.truncated,
            "statements_done": outcome.statements_done,
            "statements_total": outcome.statements_total,
        }

    def failed(self, exc):
        """The outcome of a failed run; its partial result is dropped, never served."""
        ResultChunk.objects.filter(command_id=self.command.pk).delete()
        message = exc.message
        if exc.detail is not None:
            # The driver's words may name hosts and ports: the operator's log, not the user's.
            logger.warning("command %s: the data source could not be opened: %s",
                           self.command.pk, exc.detail)
            message = f"{message} (the worker log has the details, under command {self.command.pk})"
        self.log(f"{exc.error_type}: {message}")
        if exc.error_type == "Cancelled":
            if self.stop_reason == "abort":
                return {"status": Status.ERROR, "error_type": "WorkerStopped",
                        "error_message": "The worker was stopped while the command ran."}
            return {"status": Status.CANCELLED}
        if exc.error_type == "Timeout":
            return {"status": Status.ERROR, "error_type": "Timeout",
                    "error_message": f"Interrupted after its timeout of {self.command.timeout} s."}
        return {"status": Status.ERROR, "error_type": exc.error_type, "error_message": message}

    # -- the spec ---------------------------------------------------------------------------

    @contextmanager
    def spec(self):
        """The executor's spec; for the built-in source, with the datasets as local files."""
        command = self.command
        source = command.data_source or DataSource.objects.default_for(command.account)
        problem = source.target_problem()  # again here: settings or symlinks may have changed
        if problem:
            raise SqlError("ConnectionError", f"data source {source.name}: {problem}")
        common = {
            "sql": command.query, "params": command.parameters or {},
            "timeout": command.timeout, "max_rows": self.config["MAX_RESULT_ROWS"],
            "max_bytes": self.config["MAX_RESULT_BYTES"],
        }
        if not source.is_default:
            yield SqlSpec(engine=source.engine, target=source.target, **common)
            return
        with tempfile.TemporaryDirectory(prefix="jobportal-sql-") as scratch:
            tables = {
                dataset.name: (datasets.local_path(dataset, scratch), dataset.format)
                for dataset in Dataset.objects.filter(account_id=command.account_id)
                .only("name", "format", "file")
            }
            yield SqlSpec(engine="duckdb", target=":memory:", tables=tables, **common)

    # -- executor hooks (main thread, except should_cancel) -----------------------------------

    def on_statement(self, done, total):
        self.run.changes.update(statements_done=done, statements_total=total,
                                progress=done * 100 // total)
        if done:
            self.log(f"statement {done}/{total} finished")
        self.sync()

    def on_columns(self, columns):
        self.columns = columns

    def on_rows(self, rows):
        ResultChunk.objects.create(command_id=self.command.pk, seq=self.seq,
                                   row_start=self.row_count, row_count=len(rows), rows=rows)
        self.seq += 1
        self.row_count += len(rows)
        self.sync()

    def should_cancel(self):
        # Called from the executor's watcher thread: a flag only, no database.
        return self.stop.is_set()

    # -- heartbeats and stopping ------------------------------------------------------------

    def sync(self):
        """Main thread: flush logs, heartbeat when due, turn the answer into the stop flag."""
        self.run.sync()
        self.last_contact = time.monotonic()
        if self.run.beat == Beat.CANCEL:
            self.request_stop("cancel")
        elif self.run.beat == Beat.LOST:
            self.request_stop("lost")
        if self.run.abort_requested():
            self.request_stop("abort")

    def request_stop(self, reason):
        with self._lock:
            if self.stop_reason is None:
                self.stop_reason = reason
        self.stop.set()

    def log(self, line):
        self.run.log.append("stderr", f"[jobportal] {line}\n".encode())


class Pulse:
    """Heartbeats (and notices cancel/abort) while the main thread is inside a statement.

    It stays quiet while the main thread syncs on its own, uses its own database connection
    (Django's connections are per thread) and closes it when the run ends.
    """

    def __init__(self, owner):
        self.owner = owner
        self.interval = owner.config["HEARTBEAT_SECONDS"]
        self.last_beat = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sql-pulse", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._done.set()
        self._thread.join()

    def _loop(self):
        try:
            while not self._done.wait(PULSE_POLL_SECONDS):
                self._step()
        finally:
            connection.close()

    def _step(self):
        owner = self.owner
        if owner.run.abort_requested():
            owner.request_stop("abort")
        now = time.monotonic()
        if now - max(owner.last_contact, self.last_beat) < self.interval:
            return
        self.last_beat = now
        try:
            beat = lifecycle.heartbeat(owner.command)
        except Exception:
            # The next step tries again; the reaper's timeout is several beats long.
            logger.exception("command %s: heartbeat from the pulse thread failed",
                             owner.command.pk)
            return
        if beat == Beat.CANCEL:
            owner.request_stop("cancel")
        elif beat == Beat.LOST:
            owner.request_stop("lost")
