"""Helpers of the page tests: a signed-in browser session, a finished SQL command."""

from django.test import Client

from jobs import lifecycle
from jobs.models import Command, ResultChunk, Status


def browser(actor):
    client = Client()
    client.force_login(actor.user)
    return client


def finish_sql(actor, rows=120):
    """A done SQL command with ``rows`` rows stored as the worker stores them."""
    command = lifecycle.submit(account=actor.account, user=actor.user, source="api",
                               command_type="sql", query="SELECT n FROM range(120) t(n)")
    Command.objects.filter(pk=command.pk).update(
        status=Status.DONE, result_columns=[{"name": "n", "type": "BIGINT"}],
        result_row_count=rows)
    ResultChunk.objects.bulk_create(
        ResultChunk(command=command, seq=i, row_start=start, row_count=min(40, rows - start),
                    rows=[[n] for n in range(start, min(start + 40, rows))])
        for i, start in enumerate(range(0, rows, 40)))
    return Command.objects.get(pk=command.pk)
