"""The embedded worker for the database task backend: a small loop of testable steps.

Each pass: close stale connections, reap (every REAP_SECONDS), claim one task from the chosen
queues (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), run it. First SIGTERM/SIGINT: finish the
running command, then exit; second: stop the command now (recorded as ``WorkerStopped``).
"""

import logging
import signal
import time

from django.db import close_old_connections
from django.db.utils import DatabaseError, OperationalError
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from jobs import lifecycle
from jobs.worker import leftovers
from jobs.worker.run import WorkerContext, new_worker_id

logger = logging.getLogger(__name__)


class Worker:
    def __init__(self, *, queues=("*",), interval=0.05, reap_every=5.0, max_jobs=None,
                 once=False, worker_id=None, backend="default"):
        self.queues = list(queues)
        self.interval = interval
        self.reap_every = reap_every
        self.max_jobs = max_jobs
        self.once = once
        self.worker_id = worker_id or new_worker_id()
        self.backend = backend
        self.jobs_done = 0
        self.stopping = False
        self.stop_now = False
        self._last_reap = 0.0

    # -- signals ----------------------------------------------------------------------------

    def install_signal_handlers(self):
        signal.signal(signal.SIGTERM, self.handle_signal)
        signal.signal(signal.SIGINT, self.handle_signal)

    def handle_signal(self, signum, frame):
        if self.stopping:
            logger.warning("worker %s: second %s, stopping the running command now",
                           self.worker_id, signal.Signals(signum).name)
            self.stop_now = True
        else:
            logger.warning("worker %s: %s, finishing the running command, then exiting",
                           self.worker_id, signal.Signals(signum).name)
            self.stopping = True

    # -- loop -------------------------------------------------------------------------------

    def run(self):
        WorkerContext.worker_id = self.worker_id
        WorkerContext.abort_requested = staticmethod(lambda: self.stop_now)
        logger.info("worker %s serving queues %s", self.worker_id, ",".join(self.queues))
        while not self.stopping:
            close_old_connections()
            try:
                self.maybe_reap()
                task = self.claim_task()
            except DatabaseError:
                # A database restart or failover must not kill the worker: back off, retry.
                logger.exception("worker %s: database error; retrying", self.worker_id)
                close_old_connections()
                time.sleep(max(1.0, self.interval))
                continue
            if task is not None:
                self.run_task(task)
                if self.max_jobs and self.jobs_done >= self.max_jobs:
                    break
            elif self.once:
                break
            else:
                time.sleep(self.interval)
        close_old_connections()
        logger.info("worker %s stopped after %d job(s)", self.worker_id, self.jobs_done)

    def maybe_reap(self, force=False):
        now = time.monotonic()
        if force or now - self._last_reap >= self.reap_every:
            self._last_reap = now
            lifecycle.reap()
            leftovers.sweep_local_leftovers()

    def claim_task(self):
        """Lock and claim one ready task of our queues, or None."""
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend)
        if "*" not in self.queues:
            tasks = tasks.filter(queue_name__in=self.queues)
        # Look before locking: on SQLite the claim transaction takes the database's write
        # lock, and an idle worker polling every 50 ms would otherwise hold it up to 20 times
        # a second against the web server's writes.
        if not tasks.exists():
            return None
        try:
            with exclusive_transaction(tasks.db):
                task = tasks.get_locked()
                if task is not None:
                    task.claim(self.worker_id)
                return task
        except OperationalError as exc:
            if is_locked_database_exception(exc):
                return None
            raise

    def run_task(self, db_task):
        try:
            task = db_task.task
            result = db_task.task_result
            value = task.call(*result.args, **result.kwargs)
            db_task.set_successful(value)
        except Exception as exc:
            logger.exception("worker %s: task %s failed", self.worker_id, db_task.id)
            db_task.set_failed(exc)
        finally:
            self.jobs_done += 1
