"""The web server of ``manage.py serve``: uvicorn serving jobportal.asgi.

    python -m jobportal.web --host 127.0.0.1 --port 8000 --workers 2

``--app`` serves another ASGI application the same way (the benchmarks' floor, bench/floor.py).

With more than one worker uvicorn supervises its own processes and replaces one that dies.
The access log shows the path without its query string, because ``?api_key=`` carries a
secret.
"""

import argparse
import copy
import logging

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
    args = parser.parse_args(argv)
    uvicorn.run(args.app, host=args.host, port=args.port,
                workers=args.workers, log_config=log_config(),
                access_log=not args.no_access_log, timeout_graceful_shutdown=10,
                lifespan="off")


if __name__ == "__main__":
    main()
