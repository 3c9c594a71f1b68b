"""Retention: `manage.py prune` deletes what is past its account's retention, never an active
command, and nothing at all with --dry-run."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.models import Account, AuditEvent
from jobs.models import Command, LogChunk, Status


@pytest.fixture
def brief(db):
    """An account that keeps finished commands for one day."""
    return Account.objects.create_account("brief", retention_days=1)


@pytest.fixture
def lasting(db):
    """An account that keeps finished commands for thirty days."""
    return Account.objects.create_account("lasting", retention_days=30)


def make(account, status, days_ago, chunks=0):
    """A command created and (if finished) finished ``days_ago`` days ago, with log chunks."""
    when = timezone.now() - timedelta(days=days_ago)
    command = Command.objects.create(account=account, command_type="shell", script="true",
                                     timeout=60, status=status)
    finished = when if status in Status.TERMINAL else None
    Command.objects.filter(pk=command.pk).update(created_at=when, finished_at=finished)
    for seq in range(chunks):
        LogChunk.objects.create(command=command, seq=seq, stream="stdout", offset=seq * 3,
                                stream_offset=seq * 3, data=b"ok\n")
    return command


def prune(*args):
    out = StringIO()
    call_command("prune", *args, stdout=out)
    return out.getvalue()


def exists(command):
    return Command.objects.filter(pk=command.pk).exists()


@pytest.mark.parametrize("status", Status.TERMINAL)
def test_old_finished_commands_go_with_their_log_chunks(brief, status):
    old = make(brief, status, days_ago=3, chunks=4)
    output = prune()
    assert not exists(old)
    assert not LogChunk.objects.filter(command_id=old.pk).exists()
    assert "brief: deleted 1 finished command(s) with 4 log chunk(s)" in output


def test_recently_finished_commands_stay(brief):
    recent = make(brief, Status.DONE, days_ago=0.5, chunks=2)
    prune()
    assert exists(recent)
    assert LogChunk.objects.filter(command=recent).count() == 2


@pytest.mark.parametrize("status", Status.ACTIVE)
def test_an_active_command_is_never_deleted_however_old(brief, status):
    ancient = make(brief, status, days_ago=1000, chunks=1)
    # Even a stray finished_at on an active row must not make it prunable.
    Command.objects.filter(pk=ancient.pk).update(
        finished_at=timezone.now() - timedelta(days=1000))
    output = prune()
    assert exists(ancient)
    assert LogChunk.objects.filter(command=ancient).count() == 1
    assert "brief: deleted 0 finished command(s)" in output


def test_each_account_keeps_its_own_retention(brief, lasting):
    brief_old = make(brief, Status.DONE, days_ago=5)
    lasting_old = make(lasting, Status.DONE, days_ago=5)
    lasting_older = make(lasting, Status.ERROR, days_ago=31)
    output = prune()
    assert not exists(brief_old)
    assert exists(lasting_old)
    assert not exists(lasting_older)
    assert "brief: deleted 1 " in output and "(retention 1 days)" in output
    assert "lasting: deleted 1 " in output and "(retention 30 days)" in output


def test_dry_run_deletes_nothing_and_says_what_would_go(brief):
    old = [make(brief, Status.DONE, days_ago=3, chunks=2) for _ in range(2)]
    event = AuditEvent.objects.create(action="x", created_at=timezone.now() - timedelta(400))
    output = prune("--dry-run")
    assert all(exists(command) for command in old)
    assert LogChunk.objects.count() == 4
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert "brief: would delete 2 finished command(s) with 4 log chunk(s)" in output
    assert "audit: would delete 1 event(s)" in output


def test_account_option_prunes_only_that_account(brief, lasting):
    Account.objects.filter(pk=lasting.pk).update(retention_days=1)
    mine, theirs = make(brief, Status.DONE, 3), make(lasting, Status.DONE, 3)
    output = prune("--account", "brief")
    assert not exists(mine)
    assert exists(theirs)
    assert "lasting" not in output


def test_an_unknown_account_is_an_error(db):
    with pytest.raises(CommandError, match="nope"):
        prune("--account", "nope")


def test_small_batches_still_delete_everything_expired(brief):
    old = [make(brief, Status.CANCELLED, days_ago=2, chunks=1) for _ in range(7)]
    recent = make(brief, Status.DONE, days_ago=0)
    output = prune("--batch-size", "2")
    assert not Command.objects.filter(pk__in=[c.pk for c in old]).exists()
    assert exists(recent)
    assert "deleted 7 finished command(s) with 7 log chunk(s)" in output


def test_a_rerun_outlives_its_pruned_original(brief):
    original = make(brief, Status.DONE, days_ago=3)
    rerun = make(brief, Status.DONE, days_ago=0)
    Command.objects.filter(pk=rerun.pk).update(rerun_of=original)
    prune()
    assert not exists(original)
    assert Command.objects.get(pk=rerun.pk).rerun_of_id is None


def test_audit_events_go_after_audit_days_but_not_before_the_longest_retention(brief):
    def event(days_ago):
        return AuditEvent.objects.create(
            account=brief, action="commands.submit",
            created_at=timezone.now() - timedelta(days=days_ago))

    young, old = event(100), event(400)
    prune()
    assert AuditEvent.objects.filter(pk=young.pk).exists()
    assert not AuditEvent.objects.filter(pk=old.pk).exists()

    Account.objects.filter(pk=brief.pk).update(retention_days=500)
    kept = event(400)
    assert "older than 500 days" in prune("--audit-days", "30")
    assert AuditEvent.objects.filter(pk=kept.pk).exists()


def test_finished_task_results_older_than_a_day_go(db):
    def result(status, hours_ago):
        when = timezone.now() - timedelta(hours=hours_ago)
        return DBTaskResult.objects.create(
            status=status, args_kwargs={"args": [1], "kwargs": {}},
            task_path="jobs.worker.tasks.run_command", backend_name="default", run_after=when,
            finished_at=when if status in ("SUCCESSFUL", "FAILED") else None,
            exception_class_path="", traceback="")

    gone = [result(TaskResultStatus.SUCCESSFUL, 30), result(TaskResultStatus.FAILED, 30)]
    kept = [result(TaskResultStatus.SUCCESSFUL, 2), result(TaskResultStatus.READY, 30),
            result(TaskResultStatus.RUNNING, 30)]
    assert "task results: deleted 2 finished result(s)" in prune()
    remaining = set(DBTaskResult.objects.values_list("pk", flat=True))
    assert remaining == {r.pk for r in kept}
    assert not remaining & {r.pk for r in gone}


def test_task_results_abandoned_running_by_dead_workers_go(db, settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "MAX_TIMEOUT_SECONDS": 3600}
    long_ago = timezone.now() - timedelta(days=2)
    abandoned = DBTaskResult.objects.create(
        status=TaskResultStatus.RUNNING, args_kwargs={"args": [1], "kwargs": {}},
        task_path="jobs.worker.tasks.run_command", backend_name="default", started_at=long_ago,
        exception_class_path="", traceback="")
    current = DBTaskResult.objects.create(
        status=TaskResultStatus.RUNNING, args_kwargs={"args": [2], "kwargs": {}},
        task_path="jobs.worker.tasks.run_command", backend_name="default",
        started_at=timezone.now(), exception_class_path="", traceback="")
    assert "deleted 1 abandoned running result(s)" in prune()
    assert list(DBTaskResult.objects.values_list("pk", flat=True)) == [current.pk]
    assert not DBTaskResult.objects.filter(pk=abandoned.pk).exists()


def test_rate_counters_of_past_hours_go(brief):
    from accounts.models import RateCounter
    from accounts.throttling import WINDOW_SECONDS

    now = int(timezone.now().timestamp() // WINDOW_SECONDS)
    for window in (now - 5, now - 1, now):
        RateCounter.objects.create(account=brief, window_number=window, count=3)
    assert "rate limits: deleted 1 counter(s)" in prune()
    assert sorted(RateCounter.objects.values_list("window_number", flat=True)) == [now - 1, now]
