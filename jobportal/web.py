"""The web server of ``manage.py serve``: uvicorn serving jobportal.asgi.

    python -m jobportal.web --host 127.0.0.1 --port 8000 --workers 2

``--app`` serves another ASGI application the same way (the benchmarks' floor, bench/floor.py).

With more than one worker uvicorn supervises its own processes and replaces one that dies.
``manage.py serve`` does not use that: its supervisor (jobportal.procs) opens the listening
socket itself and starts each web process with ``--fd N``, a single uvicorn process serving
that inherited socket, so no uvicorn parent or multiprocessing helper sits idle beside them
(about 40 MiB, docs/benchmarks.md) and the supervisor replaces a web process that dies.
The access log shows the path without its query string, because ``?api_key=`` carries a
secret.
"""

import argparse
import copy
import logging
import socket

import uvicorn
from uvicorn.config import LOGGING_CONFIG


class StripQuery(logging.Filter):
    """Drops the query string from uvicorn's access-log records."""

    def filter(self, record):
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def log_config():
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"strip_query": {"()": StripQuery}}
    config["handlers"]["access"]["filters"] = ["strip_query"]
    return config


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--app", default="jobportal.asgi:application")
    parser.add_argument("--fd", type=int, default=None,
                        help="Serve this inherited listening socket (one process; --host, "
                             "--port and --workers do not apply).")
    args = parser.parse_args(argv)
    options = dict(log_config=log_config(), access_log=not args.no_access_log,
                   timeout_graceful_shutdown=10, lifespan="off")
    if args.fd is not None:
        listening = socket.socket(fileno=args.fd)  # its family and type come from the fd
        uvicorn.Server(uvicorn.Config(args.app, **options)).run(sockets=[listening])
        return
    uvicorn.run(args.app, host=args.host, port=args.port, workers=args.workers, **options)


if __name__ == "__main__":
    main()
