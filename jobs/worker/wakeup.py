"""How an idle worker learns that a task may be ready, without a busy poll of the database.

An idle worker used to ask the database every 50 ms whether a task was ready: about 4 % of a
core per worker, for nothing. Now it waits on a cheap signal and asks only when something may
have changed, and at least every ``fallback`` seconds whatever happens (a lost signal costs
latency, never a command):

- PostgreSQL: ``LISTEN jobportal_tasks`` on a connection of its own; :func:`announce` sends
  ``NOTIFY`` after each task is handed to the engine. The worker sleeps in ``select()``.
- SQLite (one machine by nature): any commit changes the database or its write-ahead log, so
  the worker compares their size and modification time every ``interval`` (a ``stat()``, no
  query) and asks the database when they changed.
- Anything else: a plain sleep of ``interval``, as before.
"""

import logging
import os
import time

from django.db import connection

logger = logging.getLogger(__name__)
CHANNEL = "jobportal_tasks"


def announce():
    """Tell listening workers that a task was enqueued (PostgreSQL; a no-op elsewhere).

    Called after the task row is committed; in autocommit the notification goes at once."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {CHANNEL}")


def for_database(interval, fallback=1.0):
    """The wake-up that suits the default database, already listening."""
    if connection.vendor == "postgresql":
        listen = Listen(fallback)
        listen.start()
        return listen
    if connection.vendor == "sqlite":
        return FileChange(connection.settings_dict["NAME"], interval, fallback)
    return Sleep(interval)


class Sleep:
    """Wake after ``interval`` seconds, every time."""

    def __init__(self, interval):
        self.interval = interval

    def wait(self):
        time.sleep(self.interval)

    def close(self):
        pass


class FileChange:
    """Wake when the SQLite database or its WAL changes, or after ``fallback`` seconds."""

    def __init__(self, path, interval, fallback):
        self.paths = [str(path), f"{path}-wal"]
        self.interval = interval
        self.fallback = fallback
        self.seen = self.signature()

    def signature(self):
        marks = []
        for path in self.paths:
            try:
                info = os.stat(path)
            except OSError:
                marks.append(None)
            else:
                marks.append((info.st_size, info.st_mtime_ns))
        return marks

    def wait(self):
        deadline = time.monotonic() + self.fallback
        while time.monotonic() < deadline:
            time.sleep(self.interval)
            now = self.signature()
            if now != self.seen:
                self.seen = now
                return

    def close(self):
        pass


class Listen:
    """Wake on ``NOTIFY jobportal_tasks`` or after ``fallback`` seconds (PostgreSQL)."""

    def __init__(self, fallback):
        self.fallback = fallback
        self.conn = None

    def connect(self):
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        self.conn = psycopg.connect(**params, autocommit=True)
        self.conn.execute(f"LISTEN {CHANNEL}")

    def start(self):
        """Listen now, so a task enqueued before the first wait still wakes the worker."""
        import psycopg

        try:
            self.connect()
        except psycopg.Error:
            logger.warning("worker wake-up: cannot LISTEN yet; polling every %s s",
                           self.fallback)
            self.close()

    def wait(self):
        import psycopg

        try:
            if self.conn is None or self.conn.closed:
                self.connect()
            if list(self.conn.notifies(timeout=self.fallback, stop_after=1)):
                # Drain what else is pending: a burst of tasks is one wake-up, not one each.
                list(self.conn.notifies(timeout=0.001))
        except psycopg.Error:
            # The database went away: the claim that follows reports it; listen afresh
            # next time, and meanwhile do not spin.
            logger.warning("worker wake-up: LISTEN connection lost; reconnecting")
            self.close()
            time.sleep(self.fallback)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
