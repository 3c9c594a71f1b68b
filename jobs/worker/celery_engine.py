"""The worker of the Celery task engine: a Celery worker for the chosen queues, plus the reaper.

``manage.py worker`` under ``JOBPORTAL_TASK_BACKEND=celery`` runs :func:`run_celery_worker`: it
starts ``celery worker`` (prefork pool, acks_late, prefetch 1) as a child process and, in the
foreground, runs :func:`jobs.lifecycle.reap` every ``REAP_SECONDS``, because the Command row,
not Celery, decides which commands are lost. Celery does not serve "all queues", so with
``--queues *`` the foreground asks the worker to consume each label that queued commands use.

Signals, as for the database worker: the first SIGTERM/SIGINT finishes running commands and
exits (Celery's warm shutdown); the second stops running commands now and records them as
``WorkerStopped`` (SIGUSR2 to the pool processes); a third is Celery's cold shutdown.
"""

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from kombu.exceptions import OperationalError as BrokerError

from jobportal.procs import die_with_parent
from jobs import lifecycle
from jobs.models import Command, Status
from jobs.schedules import scheduler
from jobs.worker import leftovers
from jobs.worker.run import WorkerContext, new_worker_id
from notifications.sender import Sender

logger = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"
STOP_NOW_SIGNAL = signal.SIGUSR2


def run_celery_worker(queues: str, concurrency: int) -> int:
    """Serve ``queues`` (comma-separated labels, or ``*``) until stopped; the exit code."""
    worker = CeleryWorker(queues.split(","), concurrency,
                          reap_every=settings.JOBPORTAL["REAP_SECONDS"])
    worker.install_signal_handlers()
    return worker.run()


class CeleryWorker:
    """A ``celery worker`` child process and the foreground loop that reaps and follows."""

    def __init__(self, queues, concurrency=1, *, reap_every=5.0, poll=0.2):
        names = [q.strip() for q in queues if q.strip()]
        self.follow_all = "*" in names
        self.queues = [q for q in names if q != "*"] or [DEFAULT_QUEUE]
        self.concurrency = concurrency
        self.reap_every = reap_every
        self.poll = poll
        self.nodename = f"jobportal-{os.getpid()}@{socket.gethostname()}"
        self.proc = None
        self.signals = 0
        self._last_step = float("-inf")

    def argv(self):
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        return [
            sys.executable, "-m", "celery", "-A", "jobportal.celery:app", "worker",
            "--hostname", self.nodename, "--queues", ",".join(self.queues),
            "--concurrency", str(self.concurrency), "--pool", "prefork",
            "--loglevel", level,
            # No revokes to sync and no peers to watch: both only slow the start down.
            "--without-mingle", "--without-gossip",
        ]

    def start(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(settings.BASE_DIR), env.get("PYTHONPATH")) if p)
        # Own session: a terminal's Ctrl-C reaches only us, and we pass on one signal per stage.
        # The pool processes inherit SIGUSR2 ignored until init_pool_process() takes it over.
        self.proc = subprocess.Popen(self.argv(), env=env, start_new_session=True,
                                     preexec_fn=_ignore_stop_now_and_die_with_parent)
        logger.info("celery worker %s (pid %s) serving %s", self.nodename, self.proc.pid,
                    "all queues" if self.follow_all else ",".join(self.queues))

    # -- signals ----------------------------------------------------------------------------

    def install_signal_handlers(self):
        signal.signal(signal.SIGTERM, self.handle_signal)
        signal.signal(signal.SIGINT, self.handle_signal)

    def handle_signal(self, signum, frame):
        self.signals += 1
        if self.proc is None or self.proc.poll() is not None:
            return
        name = signal.Signals(signum).name
        if self.signals == 1:
            logger.warning("%s: %s, finishing running commands, then exiting", self.nodename, name)
            self.proc.send_signal(signal.SIGTERM)
        elif self.signals == 2:
            logger.warning("%s: second %s, stopping running commands now", self.nodename, name)
            with contextlib.suppress(ProcessLookupError):  # it may have just exited
                os.killpg(self.proc.pid, STOP_NOW_SIGNAL)
        else:
            logger.warning("%s: %s again, cold shutdown", self.nodename, name)
            self.proc.send_signal(signal.SIGQUIT)

    # -- loop -------------------------------------------------------------------------------

    def run(self):
        if self.follow_all:
            self.queues = sorted({*self.queues, *self.queued_labels()})
        if self.signals:  # stopped before we began
            return 0
        self.start()
        sender = Sender(self.nodename)
        sender.start()
        try:
            self.supervise()
        finally:
            sender.stop()
        close_old_connections()
        code = self.proc.returncode
        logger.info("celery worker %s exited with %s", self.nodename, code)
        return 128 - code if code < 0 else code

    def supervise(self):
        """Reap every ``reap_every`` seconds until the Celery worker exits (notifications are
        sent meanwhile by this process's :class:`notifications.sender.Sender` thread)."""
        while self.proc.poll() is None:
            if time.monotonic() - self._last_step >= self.reap_every:
                self._last_step = time.monotonic()
                self.step()
            time.sleep(self.poll)

    def step(self):
        """Reap lost and stale commands; with ``--queues *``, serve labels new to us."""
        close_old_connections()
        try:
            lifecycle.reap()
            leftovers.sweep_local_leftovers()
            if self.follow_all and not self.signals:
                self.follow_queues()
        except DatabaseError:
            logger.exception("%s: reaping failed; trying again in %s s", self.nodename,
                             self.reap_every)
        scheduler.tick_in_worker(self.nodename)

    @staticmethod
    def queued_labels():
        return set(
            Command.objects.filter(status=Status.QUEUED).order_by()
            .values_list("label", flat=True).distinct()
        )

    def follow_queues(self):
        """With ``--queues *``: have the worker consume every label a queued command uses."""
        from jobportal.celery import app

        for label in sorted(self.queued_labels() - set(self.queues)):
            try:
                replies = app.control.add_consumer(label, destination=[self.nodename],
                                                   reply=True, timeout=1.0)
            except BrokerError:
                logger.warning("%s: cannot reach the broker to add queue %s", self.nodename,
                               label, exc_info=True)
                return
            if any(self.nodename in reply for reply in replies):
                self.queues.append(label)
                logger.info("%s: now also serving queue %s", self.nodename, label)


def _ignore_stop_now_and_die_with_parent():
    signal.signal(STOP_NOW_SIGNAL, signal.SIG_IGN)
    die_with_parent(signal.SIGTERM)


# -- inside the Celery pool processes -----------------------------------------------------------


class _PoolProcess:
    stop_now = False


def init_pool_process():
    """``worker_process_init``: an own worker id, and SIGUSR2 as "stop the command now"."""
    WorkerContext.worker_id = new_worker_id()
    WorkerContext.abort_requested = lambda: _PoolProcess.stop_now
    signal.signal(STOP_NOW_SIGNAL, _request_stop_now)


def _request_stop_now(signum, frame):
    _PoolProcess.stop_now = True
