"""worker: run commands from the chosen queues (see docs/scale-out.md)."""

import logging
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import CommandError

from jobportal.cli import PortalCommand
from jobportal.procs import worker_preexec
from jobs import sandbox
from jobs.worker.loop import Worker
from jobs.worker.run import new_worker_id

logger = logging.getLogger("jobs.worker")


class Command(PortalCommand):
    help = ("Run a worker that executes commands from the chosen queues (labels). This is the "
            "portal's worker; django-tasks-db's db_worker, also listed, does not watch over "
            "commands and is not to be run.")

    def add_arguments(self, parser):
        parser.add_argument("--queues", default="*",
                            help="Comma-separated labels to serve, or * for all.")
        parser.add_argument("--concurrency", type=int, default=1,
                            help="Worker processes (each running --slots commands at once).")
        parser.add_argument("--slots", type=int, default=1,
                            help="Commands each process runs at once, one thread each, "
                                 "sharing one Django in memory (database engine only).")
        parser.add_argument("--once", action="store_true",
                            help="Run what is ready, then exit.")
        parser.add_argument("--max-jobs", type=int, default=None,
                            help="Exit after running this many commands (default: never).")
        parser.add_argument("--interval", type=float,
                            default=settings.JOBPORTAL["WORKER_POLL_SECONDS"],
                            help="Seconds between polls when idle.")
        parser.add_argument("--worker-id", default=None,
                            help="Name recorded on the commands it runs (default: "
                                 "<hostname>-<pid>-<random>).")

    def handle(self, queues, concurrency, slots, once, max_jobs, interval, worker_id,
               **options):
        if concurrency < 1 or slots < 1:
            raise CommandError("--concurrency and --slots must be at least 1.")
        sandbox.log_status(logger, f"worker (pid {os.getpid()}) serving {queues}")
        if settings.TASK_ENGINE == "celery":
            if slots > 1:
                raise CommandError("--slots is for the database engine; Celery's pool runs "
                                   "--concurrency processes.")
            from jobs.worker.celery_engine import run_celery_worker

            sys.exit(run_celery_worker(queues, concurrency))
        if concurrency > 1:
            sys.exit(self.run_pool(queues, concurrency, slots, once, max_jobs, interval))
        worker = Worker(queues=queues.split(","), interval=interval, max_jobs=max_jobs,
                        once=once, worker_id=worker_id, slots=slots,
                        reap_every=settings.JOBPORTAL["REAP_SECONDS"])
        worker.install_signal_handlers()
        worker.run()
        if worker.failed:
            sys.exit(1)

    def run_pool(self, queues, concurrency, slots, once, max_jobs, interval):
        """``concurrency`` worker processes; signals are passed on, so each finishes or stops
        its commands. If this parent dies, even by SIGKILL, the kernel tells each process to
        stop its commands now and exit (``PARENT_DIED``): no orphan goes on running one."""
        base = [sys.executable, str(settings.BASE_DIR / "manage.py"), "worker", "--queues",
                queues, "--interval", str(interval), "--slots", str(slots)]
        if once:
            base.append("--once")
        if max_jobs:
            base += ["--max-jobs", str(max_jobs)]
        # Own sessions: a terminal's Ctrl-C reaches only us, and we pass on exactly one signal.
        children = [
            subprocess.Popen([*base, "--worker-id", f"{new_worker_id()}-{i}"],
                             start_new_session=True, preexec_fn=worker_preexec)
            for i in range(concurrency)
        ]

        def forward(signum, frame):
            for child in children:
                if child.poll() is None:
                    child.send_signal(signum)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        while any(child.poll() is None for child in children):
            time.sleep(0.2)
        return max(child.returncode for child in children)
