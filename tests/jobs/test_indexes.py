"""The hottest queries use their indexes (read from the database's own query plan)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Account
from jobs.models import Command, LogChunk, Status
from tests.jobs.factories import submit_shell


def plan(queryset):
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The log table is empty here; only forbidding sequential scans shows which
            # index would serve it.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


@pytest.fixture
def some_commands(member):
    """A history shaped like production (mostly finished commands, a few active ones, two
    accounts, many labels) with planner statistics gathered, so the planner chooses as it
    would at scale rather than by ties between equally cheap indexes on a tiny table."""
    old = timezone.now() - timedelta(days=3)
    accounts = [member.account, *Account.objects.bulk_create(
        Account(slug=f"tenant-{i}", name=f"Tenant {i}") for i in range(9))]
    Command.objects.bulk_create(
        Command(account=account, command_type="shell", script="true", timeout=60,
                status=Status.DONE, finished_at=old, heartbeat_at=old, label=f"l{i % 50}",
                submission_id=f"old-{i}")
        for account in accounts for i in range(300)
    )
    made = [submit_shell(member) for _ in range(5)]
    fresh_statistics("jobs_command")
    return made


def fresh_statistics(table):
    """Statistics of ``table`` as it is now. On PostgreSQL the indexes are rebuilt first: rows
    that earlier tests wrote and rolled back stay in them as dead entries, and a bloated index
    looks dear to the planner, which then prefers another one."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"REINDEX TABLE {table}")
        cursor.execute(f"ANALYZE {table}")


@pytest.mark.parametrize(("name", "queryset", "index"), [
    ("history page", lambda a: Command.objects.filter(account=a).order_by("-id")[:50],
     "command_account_id"),
    ("status filter", lambda a: Command.objects.filter(account=a, status="running")
     .order_by("-id")[:50], "command_account_status"),
    ("admission", lambda a: Command.objects.filter(account=a, status=Status.WAITING)
     .order_by("id")[:2], "command_account_status"),
    ("slots held", lambda a: Command.objects.filter(account=a).holding_slot().order_by(),
     "command_account_status"),
    ("reaper", lambda a: Command.objects.filter(
        status=Status.RUNNING, heartbeat_at__lt=timezone.now() - timedelta(seconds=30))
     .order_by(), "command_status_heartbeat"),
    ("label history", lambda a: Command.objects.filter(label="etl").order_by("-id")[:50],
     "command_label_id"),
    ("log page", lambda a: LogChunk.objects.filter(command_id=1, offset__gt=0)
     .order_by("offset"), "logchunk_command_offset"),
])
def test_hot_queries_use_their_index(member, some_commands, name, queryset, index):
    text = plan(queryset(member.account))
    assert index in text, f"{name}: {text}"
