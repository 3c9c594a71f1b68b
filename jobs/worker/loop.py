"""The embedded worker for the database task backend: a small loop of testable steps.

A worker process runs ``--slots`` commands at once, one per :class:`Slot`, each on its own
thread with its own database connections; one Django in memory serves them all (a Django
process holds ~75 MiB, a slot a few). Each pass of a slot: close stale connections, claim one
task from the chosen queues (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; the account holding
the fewest workers first, see :mod:`jobs.worker.fairness`), run it. With nothing ready it
waits for a wake-up (:mod:`jobs.worker.wakeup`: LISTEN/NOTIFY on PostgreSQL, a file check on
SQLite).

The reaper runs beside the loop in its own thread (:class:`Reaper`), every REAP_SECONDS,
whether or not a command is running here: a busy worker still fails the commands of dead
workers and admits what waits behind them. The same pass ticks the schedules
(:mod:`jobs.schedules.scheduler`): every worker does, and the schedule row's lock makes each
slot run once. The notification sender (:class:`notifications.sender.Sender`) is a third
thread, for the same reason.

First SIGTERM/SIGINT: finish the running commands, then exit; second: stop them now
(recorded as ``WorkerStopped``). SIGUSR1 (sent by the kernel when the supervising parent
dies, see jobportal/procs.py): stop the commands now and exit, so no orphaned worker goes on
running them. A crash of the process loses all its slots' commands at once; the reaper fails
them (``WorkerLost``) like any dead worker's.
"""

import logging
import signal
import threading
import time

from django.db import close_old_connections, connection, connections
from django.db.utils import DatabaseError, OperationalError
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from jobportal.procs import PARENT_DIED
from jobs import lifecycle
from jobs.schedules import scheduler
from jobs.worker import fairness, leftovers, wakeup
from jobs.worker.run import WorkerContext, new_worker_id
from notifications.sender import Sender

logger = logging.getLogger(__name__)


class Worker:
    """One worker process: ``slots`` commands at once, each slot a :class:`Slot` on a thread of
    its own (the first on the main thread), sharing one Django, one reaper and one sender.
    Signals reach the process; every slot obeys them."""

    def __init__(self, *, queues=("*",), interval=0.05, reap_every=5.0, max_jobs=None,
                 once=False, worker_id=None, backend="default", idle_check_seconds=1.0,
                 slots=1):
        if slots < 1:
            raise ValueError(f"a worker needs at least one slot, not {slots}")
        self.queues = list(queues)
        self.interval = interval
        self.idle_check_seconds = idle_check_seconds
        self.reap_every = reap_every
        self.max_jobs = max_jobs
        self.once = once
        self.worker_id = worker_id or new_worker_id()
        self.backend = backend
        self.slots = slots
        self.jobs_done = 0
        self._claims = 0  # claimed or being claimed, against max_jobs
        self._counting = threading.Lock()
        self.stopping = False
        self.stop_now = False
        self.failed = False  # a slot's loop raised: the process stops and exits 1

    # -- signals ----------------------------------------------------------------------------

    def install_signal_handlers(self):
        signal.signal(signal.SIGTERM, self.handle_signal)
        signal.signal(signal.SIGINT, self.handle_signal)
        signal.signal(PARENT_DIED, self.handle_parent_death)

    def handle_signal(self, signum, frame):
        if self.stopping:
            logger.warning("worker %s: second %s, stopping the running command now",
                           self.worker_id, signal.Signals(signum).name)
            self.stop_now = True
        else:
            logger.warning("worker %s: %s, finishing the running command, then exiting",
                           self.worker_id, signal.Signals(signum).name)
            self.stopping = True

    def handle_parent_death(self, signum, frame):
        logger.warning("worker %s: supervisor gone, stopping the running command now",
                       self.worker_id)
        self.stopping = self.stop_now = True

    # -- running ----------------------------------------------------------------------------

    def slot_ids(self):
        """The id each slot records on its commands: the worker's own with one slot."""
        if self.slots == 1:
            return [self.worker_id]
        return [f"{self.worker_id}-s{number}" for number in range(1, self.slots + 1)]

    def run(self):
        logger.info("worker %s serving queues %s with %d slot(s)", self.worker_id,
                    ",".join(self.queues), self.slots)
        reaper = Reaper(self.reap_every, self.worker_id)
        sender = Sender(self.worker_id)
        if self.once:
            reaper.reap()  # --once: one pass of everything, before the slots
        else:
            reaper.start()
            sender.start()
        first, *others = [Slot(self, slot_id) for slot_id in self.slot_ids()]
        threads = [threading.Thread(target=slot.run, name=f"slot-{slot.worker_id}")
                   for slot in others]
        try:
            for thread in threads:
                thread.start()
            first.run()
            for thread in threads:
                while thread.is_alive():  # a timed join, so signals reach the main thread
                    thread.join(timeout=0.5)
            if self.once:
                sender.step()  # --once: one pass of the notifications the run left due
        finally:
            reaper.stop()
            sender.stop()
        logger.info("worker %s stopped after %d job(s)", self.worker_id, self.jobs_done)

    def take_turn(self):
        """A slot may claim a command (False once ``max_jobs`` are claimed or running)."""
        with self._counting:
            if self.max_jobs and self._claims >= self.max_jobs:
                return False
            self._claims += 1
            return True

    def give_back_turn(self):
        """The slot claimed nothing after all."""
        with self._counting:
            self._claims -= 1

    def count_job(self):
        with self._counting:
            self.jobs_done += 1


class Slot:
    """One command at a time of a :class:`Worker`: claim the fairest ready task, run it, and
    with nothing ready wait for a wake-up. Its database connections are its thread's own."""

    def __init__(self, worker, worker_id):
        self.worker = worker
        self.worker_id = worker_id
        self.saw_work = False  # the last look found ready tasks (maybe locked by others)

    def run(self):
        worker = self.worker
        WorkerContext.worker_id = self.worker_id
        WorkerContext.abort_requested = lambda: worker.stop_now
        self.wakeup = wakeup.for_database(worker.interval, worker.idle_check_seconds)
        try:
            self.loop()
        except Exception:
            # Not a command's failure (run_task records those): a fault of the loop itself.
            # The other slots finish their commands, then the process exits for its
            # supervisor to start a whole one again, rather than go on with fewer slots.
            logger.exception("worker %s: slot failed; stopping the worker", self.worker_id)
            worker.failed = worker.stopping = True
        finally:
            self.wakeup.close()
            connections.close_all()  # this thread's

    def loop(self):
        worker = self.worker
        while not worker.stopping and worker.take_turn():
            close_old_connections()
            try:
                task = self.claim_task()
            except DatabaseError:
                # A database restart or failover must not kill the worker: back off, retry.
                worker.give_back_turn()
                logger.exception("worker %s: database error; retrying", self.worker_id)
                close_old_connections()
                time.sleep(max(1.0, worker.interval))
                continue
            if task is not None:
                self.run_task(task)
                continue
            worker.give_back_turn()
            if worker.once:
                break
            if self.saw_work:
                time.sleep(worker.interval)  # others hold what was ready: look again soon
            else:
                self.wakeup.wait()

    def claim_task(self):
        """Lock and claim one ready task of our queues, the fairest first, or None."""
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.worker.backend)
        if "*" not in self.worker.queues:
            tasks = tasks.filter(queue_name__in=self.worker.queues)
        # Look before locking: on SQLite the claim transaction takes the database's write
        # lock, which an idle look must not hold against the web server's writes.
        candidates = list(tasks.values_list("pk", "args_kwargs")[:fairness.WINDOW])
        if not candidates:
            self.saw_work = False
            return None
        order = fairness.fairest_first(candidates)
        self.saw_work = True
        try:
            with exclusive_transaction(tasks.db):
                task = self._lock_first(tasks, order)
                if task is not None:
                    task.claim(self.worker_id)
                return task
        except OperationalError as exc:
            if is_locked_database_exception(exc):
                return None
            raise

    @staticmethod
    def _lock_first(tasks, order, tries=5):
        """Lock the first task of ``order`` that no other worker holds (the engine's order
        when ``order`` is None or its head is taken)."""
        for pk in (order or [])[:tries]:
            task = tasks.filter(pk=pk).get_locked()
            if task is not None:
                return task
        return tasks.get_locked()

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
            self.worker.count_job()


class Reaper(threading.Thread):
    """Runs :func:`jobs.lifecycle.reap`, the leftover sweep and the schedules' tick every
    ``every`` seconds on its own database connection, until stopped. Any number of workers
    may reap and tick at once: every step is a conditional update or a row lock."""

    def __init__(self, every, worker_id):
        super().__init__(name=f"reaper-{worker_id}", daemon=True)
        self.every = every
        self.worker_id = worker_id
        self._stopped = threading.Event()

    def run(self):
        try:
            while not self._stopped.is_set():
                self.reap()
                self._stopped.wait(self.every)
        finally:
            connection.close()  # this thread's own connection

    def reap(self):
        """One pass; a database error is logged and the next pass tries again."""
        close_old_connections()
        try:
            lifecycle.reap()
            leftovers.sweep_local_leftovers()
        except DatabaseError:
            logger.exception("worker %s: reaping failed; trying again in %s s",
                             self.worker_id, self.every)
            close_old_connections()
        scheduler.tick_in_worker(self.worker_id)

    def stop(self):
        self._stopped.set()
        if self.is_alive():
            self.join(timeout=30)
