"""An idle worker sleeps until a task may be ready: NOTIFY on PostgreSQL, a changed database
file on SQLite. Each test waits with a fallback of minutes, so only the signal can wake it."""

import threading

import pytest
from django.db import connection  # noqa: F401 (read by the skipif conditions)

from jobs import lifecycle
from jobs.worker import wakeup
from tests.jobs.conftest import wait_for
from tests.jobs.factories import submit_shell

LONG = 600.0  # no test waits this long: the wake-up must come from the signal


def waiting_in_thread(waker):
    done = threading.Event()

    def wait():
        waker.wait()
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    return done


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="LISTEN/NOTIFY: PostgreSQL")
def test_a_listening_worker_wakes_when_a_command_is_handed_to_the_engine(transactional_db,
                                                                        member):
    waker = wakeup.for_database(0.05, LONG)
    try:
        done = waiting_in_thread(waker)
        submit_shell(member)  # admitted and enqueued on commit, which announces it
        assert wait_for(done.is_set, 60, message="the NOTIFY to wake the worker")
    finally:
        waker.close()


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="LISTEN/NOTIFY: PostgreSQL")
def test_a_burst_of_announcements_is_one_wake_up(transactional_db):
    waker = wakeup.for_database(0.05, LONG)
    try:
        for _ in range(20):
            wakeup.announce()
        waker.wait()
        later = waiting_in_thread(waker)
        wakeup.announce()
        assert wait_for(later.is_set, 60, message="the next announcement")
    finally:
        waker.close()


@pytest.mark.skipif("connection.vendor != 'sqlite'", reason="database file changes: SQLite")
def test_a_sqlite_worker_wakes_when_the_database_is_written(transactional_db, member):
    waker = wakeup.for_database(0.02, LONG)
    done = waiting_in_thread(waker)
    lifecycle.submit(account=member.account, user=member.user, source="api",
                     command_type="shell", script="true")
    assert wait_for(done.is_set, 60, message="the write to wake the worker")


def test_the_wake_up_falls_back_to_a_timeout(transactional_db):
    waker = wakeup.for_database(0.01, 0.05)
    try:
        done = waiting_in_thread(waker)  # nothing is written or announced meanwhile
        assert wait_for(done.is_set, 60, message="the fallback to end the wait")
    finally:
        waker.close()
