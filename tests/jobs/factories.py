"""Small helpers to make commands in tests without going through the API."""

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
