"""serve: the web server and the embedded worker in one foreground process.

Ctrl-C (or SIGTERM) stops both cleanly: the worker finishes or hands back what it runs. If
either child dies, the other is stopped and serve exits non-zero.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from jobportal.procs import die_with_parent


class Command(BaseCommand):
    help = "Run the web server (gunicorn) and a worker together in the foreground."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--threads", type=int, default=8,
                            help="Threads per web worker (log streams hold one each).")
        parser.add_argument("--concurrency", type=int, default=2,
                            help="Commands the embedded worker runs at once.")
        parser.add_argument("--no-worker", action="store_true",
                            help="Web only: workers run elsewhere (see docs/scale-out.md).")

    def handle(self, host, port, web_workers, threads, concurrency, no_worker, **options):
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        # Children get their own sessions so a terminal's Ctrl-C reaches only serve, which
        # passes on one signal per Ctrl-C: the first asks for a clean stop, the second for an
        # immediate one, the third kills.
        spawn = {"cwd": settings.BASE_DIR, "start_new_session": True,
                 "preexec_fn": die_with_parent}
        children = {
            "web": subprocess.Popen([
                sys.executable, "-m", "gunicorn", "jobportal.wsgi", "--bind", f"{host}:{port}",
                "--workers", str(web_workers), "--worker-class", "gthread",
                "--threads", str(threads), "--access-logfile", "-", "--graceful-timeout", "10",
                # The path without its query string: ?api_key= carries a secret.
                "--access-logformat", '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss',
            ], **spawn),
        }
        if not no_worker:
            children["worker"] = subprocess.Popen(
                [*manage, "worker", "--queues", "*", "--concurrency", str(concurrency)], **spawn
            )
        stopping = []

        def stop(signum, frame):
            if not stopping:
                self.stderr.write("Stopping (press Ctrl-C again to stop running commands)…")
            for child in children.values():
                if child.poll() is None:
                    child.send_signal(signal.SIGKILL if len(stopping) >= 2 else signal.SIGTERM)
            stopping.append(signum)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while any(child.poll() is None for child in children.values()):
            for name, child in children.items():
                if child.poll() is not None and not stopping:
                    self.stderr.write(f"{name} exited with {child.returncode}; stopping.")
                    exit_code = 1
                    stop(signal.SIGTERM, None)
            time.sleep(0.2)
        sys.exit(exit_code)
