"""Commands really run: real worker processes, real subprocesses, the real test database."""

import os
import signal
import threading
from pathlib import Path

import pytest

from accounts.models import Account
from jobs.models import Command, Status
from tests.jobs.conftest import wait_for

pytestmark = pytest.mark.slow


def submit(actor, script, **extra):
    response = actor.client.post("/api/v1/commands/", {"command_type": "shell", "script": script,
                                                        **extra}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def command(pk):
    return Command.objects.get(pk=pk)


def finished(pk, timeout=30):
    return wait_for(lambda: (c := command(pk)).is_terminal and c, timeout,
                    message=f"command {pk} to finish")


def group_gone(pgid):
    """True once no process of the group is left (zombies excepted: they run nothing)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return False
    return True


def logs(actor, pk, stream="all"):
    return actor.client.get(f"/api/v1/commands/{pk}/logs/", {"stream": stream}).json()["data"]


def test_a_command_runs_to_done_with_stdout_and_stderr_apart(member, start_worker):
    pk = submit(member, "echo hello; echo oops >&2; echo bye")
    start_worker("--once").wait(timeout=60)
    done = command(pk)
    assert (done.status, done.exit_code, done.error_type) == (Status.DONE, 0, "")
    assert done.progress == 100
    assert logs(member, pk, "stdout") == "hello\nbye\n"
    assert logs(member, pk, "stderr") == "oops\n"
    assert sorted(logs(member, pk).splitlines()) == ["bye", "hello", "oops"]
    assert done.pid and done.hostname and done.worker_id and done.attempt == 1


def test_non_zero_exit_is_an_error_with_code_and_output_tail(member, start_worker):
    pk = submit(member, "echo 'disk full' >&2; exit 3")
    start_worker("--once").wait(timeout=60)
    failed = command(pk)
    assert (failed.status, failed.exit_code, failed.error_type) == (
        Status.ERROR, 3, "NonZeroExit")
    assert "disk full" in failed.error_message


def test_the_environment_is_clean_plus_runtime_env(member, start_worker):
    pk = submit(member, "env | sort", runtime_env={"env_vars": {"FOO": "bar"}})
    start_worker("--once", env={"DJANGO_SECRET_KEY": "do-not-leak-me",
                                "AWS_SECRET_ACCESS_KEY": "nor-me"}).wait(timeout=60)
    assert command(pk).status == Status.DONE
    env = dict(line.split("=", 1) for line in logs(member, pk, "stdout").splitlines())
    assert env["FOO"] == "bar"
    assert env["JOBPORTAL_COMMAND_ID"] == str(pk)
    assert env["JOBPORTAL_ACCOUNT"] == "acme"
    assert "DJANGO_SECRET_KEY" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert "DATABASE_URL" not in env
    assert env["HOME"] == env["JOBPORTAL_WORKDIR"]


def test_progress_lines_become_progress_and_steps(member, start_worker):
    # The last line comes right before exit, after the last heartbeat: it must still count.
    pk = submit(member, "echo '::progress 1/4'; sleep 0.5; echo '::progress 3/4'")
    start_worker("--once").wait(timeout=60)
    done = command(pk)
    assert (done.steps_ready, done.steps_total) == (3, 4)
    assert done.progress == 100  # done means complete, whatever the last line said


def test_progress_is_visible_while_the_command_runs(member, start_worker):
    pk = submit(member, "echo '::progress 40'; sleep 30")
    start_worker()
    wait_for(lambda: command(pk).progress == 40, message="progress 40")
    body = member.client.get(f"/api/v1/commands/{pk}/").json()
    assert (body["status"], body["progress"]) == ("running", 40)
    member.client.post(f"/api/v1/commands/{pk}/cancel/")
    finished(pk)


def test_timeout_kills_the_process_group_and_is_an_error(member, start_worker):
    pk = submit(member, "sleep 30 & sleep 30", timeout=1)
    start_worker("--once").wait(timeout=60)
    failed = command(pk)
    assert (failed.status, failed.error_type) == (Status.ERROR, "Timeout")
    assert wait_for(lambda: group_gone(failed.pid), 10, message="process group gone")


def test_cancel_of_a_running_command_kills_its_process_group(member, start_worker):
    pk = submit(member, "trap '' TERM; sleep 30 & sleep 30")
    start_worker()
    running = wait_for(lambda: (c := command(pk)).pid and c, message="command started")
    response = member.client.post(f"/api/v1/commands/{pk}/cancel/")
    assert response.status_code == 200
    assert finished(pk).status == Status.CANCELLED
    assert wait_for(lambda: group_gone(running.pid), 10, message="process group gone")


def test_a_killed_worker_is_detected_its_slot_freed_and_the_next_command_runs(
    member, start_worker
):
    Account.objects.filter(pk=member.account.pk).update(max_concurrency=1)
    first = submit(member, "sleep 60 & sleep 60")
    second = submit(member, "echo next")
    assert command(second).throttled
    doomed = start_worker()
    running = wait_for(lambda: (c := command(first)).pid and c, message="first command started")
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=10)
    start_worker()
    lost = finished(first, timeout=30)
    assert (lost.status, lost.error_type) == (Status.ERROR, "WorkerLost")
    assert finished(second).status == Status.DONE
    assert logs(member, second) == "next\n"
    assert wait_for(lambda: group_gone(running.pid), 10, message="orphans of the lost run gone")


def test_a_dead_workers_command_is_reaped_while_every_other_worker_is_busy(
    member, start_worker
):
    Account.objects.filter(pk=member.account.pk).update(max_concurrency=2)
    busy = start_worker("--queues", "busy")
    long = submit(member, "sleep 60", label="busy")
    wait_for(lambda: command(long).pid, message="the busy worker to be busy")
    doomed = start_worker("--queues", "doomed")
    lost = submit(member, "sleep 60", label="doomed")
    waiting = submit(member, "echo behind", label="busy")
    wait_for(lambda: command(lost).pid, message="the doomed worker to run its command")
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=10)

    # Only the busy worker is left, in the middle of its sleep: its reaper still notices.
    reaped = finished(lost, timeout=30)
    assert (reaped.status, reaped.error_type) == (Status.ERROR, "WorkerLost")
    assert wait_for(lambda: command(waiting).status == Status.QUEUED, 10,
                    message="the waiting command to get the freed slot")
    assert command(long).status == Status.RUNNING and busy.poll() is None
    member.client.post(f"/api/v1/commands/{long}/cancel/")
    finished(long)


def test_graceful_stop_lets_the_running_command_finish(member, start_worker):
    pk = submit(member, "sleep 1; echo finished")
    worker = start_worker()
    wait_for(lambda: command(pk).status == Status.RUNNING, message="running")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    done = command(pk)
    assert done.status == Status.DONE
    assert logs(member, pk) == "finished\n"


def test_a_second_signal_stops_the_command_now_and_records_it(member, start_worker):
    pk = submit(member, "sleep 30")
    worker = start_worker()
    running = wait_for(lambda: (c := command(pk)).pid and c, message="running")
    worker.send_signal(signal.SIGTERM)
    # Two signals sent at once merge into one in the kernel: wait until the first is handled.
    wait_for(lambda: "finishing the running command" in Path(worker.log_path).read_text(),
             message="first signal handled")
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=30)
    stopped = command(pk)
    assert (stopped.status, stopped.error_type) == (Status.ERROR, "WorkerStopped")
    assert wait_for(lambda: group_gone(running.pid), 10, message="process group gone")


def test_a_burst_never_exceeds_the_accounts_concurrency(member, start_worker):
    ids = [submit(member, "sleep 0.3") for _ in range(8)]
    waiting = member.client.get(f"/api/v1/commands/{ids[-1]}/").json()
    assert waiting["status"] == "waiting" and waiting["throttled"] is True
    assert waiting["queue_position"] == 6
    assert waiting["held_by"] == {"limit": "max_concurrency", "max_concurrency": 2, "active": 2}

    peak, stop = [0], threading.Event()

    def sample():
        from django.db import connection

        while not stop.is_set():
            active = Command.objects.filter(pk__in=ids).holding_slot().count()
            peak[0] = max(peak[0], active)
            stop.wait(0.02)
        connection.close()

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        for _ in range(3):
            start_worker()
        for pk in ids:
            finished(pk, timeout=60)
    finally:
        stop.set()
        sampler.join()
    assert peak[0] == 2
    assert [command(pk).status for pk in ids] == [Status.DONE] * 8


def test_two_workers_run_every_command_exactly_once(member, start_worker):
    Account.objects.filter(pk=member.account.pk).update(max_concurrency=4)
    ids = [submit(member, f"echo run-{i}") for i in range(12)]
    start_worker()
    start_worker()
    for pk in ids:
        finished(pk, timeout=60)
    for i, pk in enumerate(ids):
        done = command(pk)
        assert (done.status, done.attempt) == (Status.DONE, 1)
        assert logs(member, pk) == f"run-{i}\n"


def test_one_process_of_two_slots_runs_two_commands_at_once(member, start_worker):
    ids = [submit(member, f"sleep 1; echo slot-{i}") for i in range(2)]
    worker = start_worker("--slots", "2")
    first, second = (finished(pk) for pk in ids)
    assert first.started_at < second.finished_at and second.started_at < first.finished_at
    assert {first.status, second.status} == {Status.DONE}
    assert [logs(member, pk) for pk in ids] == ["slot-0\n", "slot-1\n"]
    # One process, two slots: each records its own worker id, both of that process.
    assert first.worker_id != second.worker_id
    assert all(f"-{worker.pid}-" in c.worker_id for c in (first, second))


def test_a_stopped_process_of_two_slots_finishes_both_commands(member, start_worker):
    ids = [submit(member, "sleep 1; echo finished") for _ in range(2)]
    worker = start_worker("--slots", "2")
    wait_for(lambda: all(command(pk).status == Status.RUNNING for pk in ids),
             message="both running")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert [(command(pk).status, logs(member, pk)) for pk in ids] == [
        (Status.DONE, "finished\n")] * 2


def test_max_jobs_counts_the_commands_of_every_slot(member, start_worker):
    Account.objects.filter(pk=member.account.pk).update(max_concurrency=5)
    ids = [submit(member, "echo once") for _ in range(5)]
    assert start_worker("--slots", "2", "--max-jobs", "3").wait(timeout=60) == 0
    assert sorted(command(pk).status for pk in ids) == sorted(
        [Status.DONE] * 3 + [Status.QUEUED] * 2)


def test_labels_route_commands_to_the_workers_serving_them(member, start_worker):
    gpu = submit(member, "echo on-gpu", label="gpu")
    start_worker("--queues", "default", "--once").wait(timeout=60)
    assert command(gpu).status == Status.QUEUED
    start_worker("--queues", "gpu", "--once").wait(timeout=60)
    assert command(gpu).status == Status.DONE


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs a root worker")
def test_commands_can_run_as_an_unprivileged_user(member, start_worker, tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("portal-secret")
    secret.chmod(0o600)
    pk = submit(member, f"id -u; cat {secret} || echo denied; touch here && echo wrote")
    start_worker("--once", env={"JOBPORTAL_RUN_AS_USER": "nobody"}).wait(timeout=60)
    done = command(pk)
    assert done.status == Status.DONE, done.error_message
    out = logs(member, pk, "stdout").splitlines()
    assert out[0] == "65534"
    assert out[1:] == ["denied", "wrote"]
    assert "portal-secret" not in logs(member, pk)
