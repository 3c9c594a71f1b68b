"""The bare engine's unit of work for bench/dispatch.py: a task that does nothing."""

from django.tasks import task


@task
def noop():
    return None
