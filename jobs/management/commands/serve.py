"""serve: the web server and the embedded workers in one foreground process.

The supervisor (jobportal.procs) listens on the port; the web server is ``--web-workers``
uvicorn processes (ASGI, jobportal/web.py) serving that one socket; the workers are one
``manage.py worker`` process per ``--concurrency`` slot. A web process or worker that dies
is replaced (after a delay that grows while it keeps dying young, so a crash loop does not
spin); the others go on serving meanwhile. Ctrl-C (or SIGTERM) stops everything cleanly:
workers finish or hand back what they run; a second Ctrl-C stops running commands, a third
kills.
"""

import json
import os
import sys

from django.conf import settings

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
                            help="Commands the embedded workers run at once (one process "
                                 "each).")
        parser.add_argument("--no-worker", action="store_true",
                            help="Web only: workers run elsewhere (see docs/scale-out.md).")
        parser.add_argument("--no-access-log", action="store_true",
                            help="Do not log each request.")

    def handle(self, host, port, web_workers, threads, concurrency, no_worker,
               no_access_log, **options):
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
            children += [{"name": f"worker-{slot}", "argv": worker, "replace": True}
                         for slot in range(1, concurrency + 1)]
        plan = {"cwd": str(settings.BASE_DIR), "children": children, "listen": [host, port]}
        sys.stdout.flush()
        sys.stderr.flush()
        # The supervisor needs none of Django: become it, keeping this pid (and run from the
        # project, so `-m jobportal.procs` is found whether or not it is installed).
        os.chdir(settings.BASE_DIR)
        os.execv(sys.executable,  # noqa: S606 (our own interpreter and module, no shell)
                 [sys.executable, "-m", "jobportal.procs", json.dumps(plan)])
