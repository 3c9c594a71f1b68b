"""Every transition of the one state machine, including the illegal ones."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Account
from jobs import lifecycle
from jobs.lifecycle import Beat, IllegalTransition, WorkerIdentity
from jobs.models import Command, Status
from jobs.reads import waiting_state
from tests.jobs.factories import enqueued_ids, statuses, submit_shell

WORKER = WorkerIdentity("w-1", "node-a", "host-a", "10.0.0.1")


def test_submit_admits_while_the_account_has_free_slots(member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = submit_shell(member)
        second = submit_shell(member)
        third = submit_shell(member)
    assert statuses(first, second, third) == ["queued", "queued", "waiting"]
    third.refresh_from_db()
    assert third.throttled is True
    assert enqueued_ids() == [first.pk, second.pk]


def test_queue_position_counts_older_commands_waiting_for_the_same_thing(member):
    commands = [submit_shell(member) for _ in range(5)]
    states = [waiting_state(Command.objects.get(pk=c.pk), 2) for c in commands]
    assert [position for position, _ in states] == [1, 2, 1, 2, 3]
    assert [held["limit"] for _, held in states] == ["workers"] * 2 + ["max_concurrency"] * 3


def test_claim_moves_queued_to_running_and_records_the_worker(member):
    command = submit_shell(member)
    claimed = lifecycle.claim(command.pk, WORKER)
    assert claimed.status == Status.RUNNING
    assert (claimed.worker_id, claimed.node_id, claimed.hostname, claimed.ip_address) == (
        "w-1", "node-a", "host-a", "10.0.0.1")
    assert claimed.attempt == 1
    assert claimed.started_at is not None and claimed.heartbeat_at is not None


def test_a_second_claim_of_the_same_command_does_nothing(member):
    command = submit_shell(member)
    assert lifecycle.claim(command.pk, WORKER) is not None
    other = WorkerIdentity("w-2", "node-b", "host-b", None)
    assert lifecycle.claim(command.pk, other) is None
    assert Command.objects.get(pk=command.pk).worker_id == "w-1"


def test_a_waiting_command_cannot_be_claimed(member):
    commands = [submit_shell(member) for _ in range(3)]
    assert lifecycle.claim(commands[2].pk, WORKER) is None


def test_heartbeat_records_progress_and_reports_cancel(member):
    command = lifecycle.claim(submit_shell(member).pk, WORKER)
    assert lifecycle.heartbeat(command, progress=40, steps_ready=2, steps_total=5) == Beat.CONTINUE
    lifecycle.cancel(command)
    assert lifecycle.heartbeat(command) == Beat.CANCEL
    command.refresh_from_db()
    assert (command.progress, command.steps_ready, command.steps_total) == (40, 2, 5)


def test_heartbeat_of_a_reaped_command_says_lost(member):
    command = lifecycle.claim(submit_shell(member).pk, WORKER)
    Command.objects.filter(pk=command.pk).update(status=Status.ERROR)
    assert lifecycle.heartbeat(command) == Beat.LOST


def test_finish_ends_a_running_command_and_admits_the_next(
    member, django_capture_on_commit_callbacks
):
    a, b, c = (submit_shell(member) for _ in range(3))
    running = lifecycle.claim(a.pk, WORKER)
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.finish(running, Status.DONE, exit_code=0)
    assert statuses(a, b, c) == ["done", "queued", "queued"]
    done = Command.objects.get(pk=a.pk)
    assert done.progress == 100 and done.finished_at is not None and done.exit_code == 0
    assert Command.objects.get(pk=c.pk).throttled is False
    assert enqueued_ids() == [c.pk]


def test_finish_by_another_worker_is_refused(member):
    running = lifecycle.claim(submit_shell(member).pk, WORKER)
    running.worker_id = "impostor"
    assert lifecycle.finish(running, Status.DONE) is False
    assert Command.objects.get(pk=running.pk).status == Status.RUNNING


def test_cancel_of_a_waiting_command_ends_it_at_once(member):
    commands = [submit_shell(member) for _ in range(3)]
    cancelled = lifecycle.cancel(commands[2])
    assert cancelled.status == Status.CANCELLED
    assert cancelled.finished_at is not None
    assert cancelled.throttled is False


def test_cancel_of_a_queued_command_frees_its_slot(member):
    a, b, c = (submit_shell(member) for _ in range(3))
    lifecycle.cancel(a)
    assert statuses(a, b, c) == ["cancelled", "queued", "queued"]


def test_cancel_of_a_running_command_asks_its_worker(member):
    running = lifecycle.claim(submit_shell(member).pk, WORKER)
    after = lifecycle.cancel(running)
    assert after.status == Status.RUNNING
    assert after.cancel_requested_at is not None
    again = lifecycle.cancel(after)
    assert again.cancel_requested_at == after.cancel_requested_at


@pytest.mark.parametrize("final", [Status.DONE, Status.ERROR, Status.CANCELLED])
def test_cancel_of_a_finished_command_is_illegal(member, final):
    running = lifecycle.claim(submit_shell(member).pk, WORKER)
    lifecycle.finish(running, final)
    with pytest.raises(IllegalTransition, match=f"is {final}"):
        lifecycle.cancel(running)


def test_reaper_fails_a_silent_running_command_and_frees_its_slot(member, settings):
    a, b, c = (submit_shell(member) for _ in range(3))
    running = lifecycle.claim(a.pk, WORKER)
    Command.objects.filter(pk=running.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=120))
    reaped, _ = lifecycle.reap()
    assert reaped == [a.pk]
    lost = Command.objects.get(pk=a.pk)
    assert (lost.status, lost.error_type) == (Status.ERROR, "WorkerLost")
    assert "w-1" in lost.error_message and "host-a" in lost.error_message
    assert statuses(b, c) == ["queued", "queued"]


def test_reaper_leaves_commands_with_a_fresh_heartbeat(member):
    running = lifecycle.claim(submit_shell(member).pk, WORKER)
    assert lifecycle.reap() == ([], [])
    assert Command.objects.get(pk=running.pk).status == Status.RUNNING


def test_reaper_resends_commands_queued_for_too_long(member, django_capture_on_commit_callbacks):
    command = submit_shell(member)
    Command.objects.filter(pk=command.pk).update(
        queued_at=timezone.now() - timedelta(hours=1))
    _, requeued = lifecycle.reap()
    assert requeued == [command.pk]
    assert enqueued_ids() == [command.pk]
    assert Command.objects.get(pk=command.pk).status == Status.QUEUED


def test_reaper_admits_waiting_commands_when_the_limit_is_raised(member):
    commands = [submit_shell(member) for _ in range(4)]
    Account.objects.filter(pk=member.account.pk).update(max_concurrency=4)
    lifecycle.reap()
    assert statuses(*commands) == ["queued"] * 4


def test_admission_takes_a_bounded_number_of_queries(member, django_assert_num_queries):
    for _ in range(3):
        submit_shell(member)
    # Lock the account, count slots held, mark the rest throttled (no slot is free).
    with django_assert_num_queries(3):
        lifecycle.admit(member.account.pk)


def test_claim_heartbeat_and_finish_take_few_queries(member, django_assert_num_queries):
    command = submit_shell(member)
    with django_assert_num_queries(2):
        running = lifecycle.claim(command.pk, WORKER)
    with django_assert_num_queries(2):
        lifecycle.heartbeat(running, progress=10)
    # Savepoint, conditional update, admission (lock, count, pick, queue one, mark the rest
    # throttled), release.
    submit_shell(member)
    submit_shell(member)
    with django_assert_num_queries(8):
        lifecycle.finish(running, Status.DONE)


def test_sweep_kills_local_leftovers_of_runs_that_are_not_running_here(member, tmp_path):
    import os
    import signal
    import subprocess

    from jobs.executors.processes import marked_processes
    from jobs.worker.leftovers import run_marker, sweep_local_leftovers

    running = lifecycle.claim(submit_shell(member).pk, WORKER)
    finished = lifecycle.claim(submit_shell(member).pk, WORKER)
    lifecycle.finish(finished, Status.DONE)

    def detached(marker):
        key, _, value = marker.partition("=")
        return subprocess.Popen(["sleep", "60"], env={key: value}, start_new_session=True)

    keep = detached(run_marker(running.pk, "w-1"))
    orphan = detached(run_marker(finished.pk, "w-1"))
    stale_worker = detached(run_marker(running.pk, "w-dead"))
    other_portal = detached(f"JOBPORTAL_RUN=0123456789ab/w-1/{finished.pk}")
    try:
        assert sweep_local_leftovers() == 2
        assert orphan.wait(timeout=10) == -signal.SIGKILL
        assert stale_worker.wait(timeout=10) == -signal.SIGKILL
        assert keep.poll() is None and other_portal.poll() is None
        assert any(keep.pid in pids for pids in marked_processes("JOBPORTAL_RUN").values())
    finally:
        for proc in (keep, other_portal):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_reaper_takes_no_account_lock_where_nothing_can_be_admitted(member, outsider):
    from jobs.lifecycle import admittable_accounts

    for _ in range(3):
        submit_shell(member)  # acme: 2 queued (its limit), 1 waiting
    submit_shell(outsider)  # globex: 1 queued, nothing waiting
    assert list(admittable_accounts()) == []
    Account.objects.filter(pk=member.account.pk).update(max_concurrency=3)
    assert list(admittable_accounts()) == [member.account.pk]
