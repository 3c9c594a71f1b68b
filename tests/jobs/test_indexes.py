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
    """A history shaped like production (mostly finished commands, a few active ones, a
    hundred accounts whose commands interleave, many labels) with planner statistics
    gathered, so the planner chooses as it would at scale rather than by near-ties on a small
    table: with one account a tenth of the rows, walking the primary key backwards and
    filtering is about as cheap as the account's index, and the planner took either (seen in
    CI)."""
    old = timezone.now() - timedelta(days=3)
    accounts = [member.account, *Account.objects.bulk_create(
        Account(slug=f"tenant-{i}", name=f"Tenant {i}") for i in range(99))]
    Command.objects.bulk_create(
        Command(account=account, command_type="shell", script="true", timeout=60,
                status=Status.DONE, finished_at=old, heartbeat_at=old, label=f"l{i % 50}",
                submission_id=f"old-{i}")
        for i, account in enumerate(accounts)
    )
    # Doubled in the database (building 10,000 INSERTs in the ORM takes seconds): 100 rows
    # times 2**7, each account's spread along the ids as production's are.
    columns = [f.column for f in Command._meta.concrete_fields if not f.primary_key]
    with connection.cursor() as cursor:
        for step in range(7):
            copied = [f"submission_id || '-{step}'" if c == "submission_id" else c
                      for c in columns]
            cursor.execute(f"INSERT INTO jobs_command ({', '.join(columns)}) "
                           f"SELECT {', '.join(copied)} FROM jobs_command")
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


# Where rows of one status are rare in the whole table (active ones: waiting, queued,
# running), the status's own index bounds the scan as tightly as the account's, and the
# planner takes whichever its statistics make a hair cheaper; either is a good plan.
ACTIVE = ("command_account_status", "command_status_heartbeat")


@pytest.mark.parametrize(("name", "queryset", "indexes"), [
    ("history page", lambda a: Command.objects.filter(account=a).order_by("-id")[:50],
     ("command_account_id",)),
    ("status filter", lambda a: Command.objects.filter(account=a, status="running")
     .order_by("-id")[:50], ACTIVE),
    ("finished filter", lambda a: Command.objects.filter(account=a, status="done")
     .order_by("-id")[:50], ("command_account_status", "command_account_id")),
    ("admission", lambda a: Command.objects.filter(account=a, status=Status.WAITING)
     .order_by("id")[:2], ACTIVE),
    ("slots held", lambda a: Command.objects.filter(account=a).holding_slot().order_by(),
     ACTIVE),
    ("reaper", lambda a: Command.objects.filter(
        status=Status.RUNNING, heartbeat_at__lt=timezone.now() - timedelta(seconds=30))
     .order_by(), ("command_status_heartbeat",)),
    ("label history", lambda a: Command.objects.filter(label="etl").order_by("-id")[:50],
     ("command_label_id",)),
    ("log page", lambda a: LogChunk.objects.filter(command_id=1, offset__gt=0)
     .order_by("offset"), ("logchunk_command_offset",)),
])
def test_hot_queries_use_their_index(member, some_commands, name, queryset, indexes):
    text = plan(queryset(member.account))
    assert any(index in text for index in indexes), f"{name}: {text}"
