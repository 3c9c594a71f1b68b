"""Small helpers to make commands in tests without going through the API."""

from asgiref.sync import async_to_sync
from django_tasks_db.models import DBTaskResult

from jobs import lifecycle
from jobs.models import Command


def submit_shell(actor, script="true", **fields):
    return lifecycle.submit(account=actor.account, user=actor.user, source="api",
                            command_type="shell", script=script, **fields)


def statuses(*commands):
    return [Command.objects.get(pk=c.pk).status for c in commands]


def enqueued_ids():
    """Command ids handed to the database task backend, in order."""
    return [task.args_kwargs["args"][0] for task in DBTaskResult.objects.order_by("enqueued_at")]


def read_stream(response):
    """The whole body of a streaming response whose content is an async iterator (SSE)."""
    async def read():
        return b"".join([part async for part in response.streaming_content])

    return async_to_sync(read)().decode()
