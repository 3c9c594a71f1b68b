"""serve: the web server and the embedded workers in one foreground process.

The supervisor (jobportal.procs) listens on the port, a socket for each web process in one
``SO_REUSEPORT`` group; the web server is ``--web-workers`` uvicorn processes (ASGI,
jobportal/web.py), each serving its socket; the workers are
``--worker-processes`` ``manage.py worker`` processes (one by default) sharing the
``--concurrency`` command slots, each slot a thread. A web process or worker that dies is
replaced (after a delay that grows while it keeps dying young, so a crash loop does not spin);
the others go on serving meanwhile. Ctrl-C (or SIGTERM) stops everything cleanly: workers
finish or hand back what they run; a second Ctrl-C stops running commands, a third kills.
"""

import json
import os
import sys

from django.conf import settings
from django.core.management import CommandError

from jobportal.cli import PortalCommand


class Command(PortalCommand):
    help = "Run the web server (uvicorn) and workers together in the foreground."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"),
                            help="Address to listen on (HOST).")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")),
                            help="Port to listen on (PORT).")
        parser.add_argument("--web-workers", type=int, default=2,
                            help="Web (uvicorn) processes serving the one port.")
        parser.add_argument("--threads", type=int, default=None,
                            help="Threads per web process for synchronous views (default 8, "
                                 "JOBPORTAL_WEB_THREADS). Event streams hold none.")
        parser.add_argument("--concurrency", type=int, default=2,
                            help="Commands the embedded workers run at once.")
        parser.add_argument("--worker-processes", type=int, default=1,
                            help="Worker processes sharing those slots (default 1: one "
                                 "Django in memory for all; more isolate crashes and use "
                                 "more cores for the workers' own Python work).")
        parser.add_argument("--no-worker", action="store_true",
                            help="Web only: workers run elsewhere (see docs/scale-out.md).")
        parser.add_argument("--no-access-log", action="store_true",
                            help="Do not log each request.")

    def handle(self, host, port, web_workers, threads, concurrency, worker_processes,
               no_worker, no_access_log, **options):
        if web_workers < 1 or concurrency < 1 or not 1 <= worker_processes <= concurrency:
            raise CommandError("--web-workers and --concurrency must be at least 1, "
                               "--worker-processes between 1 and --concurrency.")
        if threads:
            os.environ["JOBPORTAL_WEB_THREADS"] = str(threads)
        # The supervisor listens; each web process serves the socket it inherits (see
        # jobportal.web) and is replaced, like a worker, if it dies.
        web = [sys.executable, "-m", "jobportal.web", "--fd", "{fd}"]
        if no_access_log:
            web.append("--no-access-log")
        children = [{"name": f"web-{number}", "argv": web, "replace": True, "listens": True}
                    for number in range(1, web_workers + 1)]
        if not no_worker:
            worker = [sys.executable, str(settings.BASE_DIR / "manage.py"), "worker",
                      "--queues", "*"]
            share, extra = divmod(concurrency, worker_processes)
            children += [{"name": f"worker-{number}", "replace": True,
                          "argv": [*worker, "--slots", str(share + (number <= extra))]}
                         for number in range(1, worker_processes + 1)]
        plan = {"cwd": str(settings.BASE_DIR), "children": children, "listen": [host, port]}
        sys.stdout.flush()
        sys.stderr.flush()
        # The supervisor needs none of Django: become it, keeping this pid (and run from the
        # project, so `-m jobportal.procs` is found whether or not it is installed).
        os.chdir(settings.BASE_DIR)
        os.execv(sys.executable,  # noqa: S606 (our own interpreter and module, no shell)
                 [sys.executable, "-m", "jobportal.procs", json.dumps(plan)])
