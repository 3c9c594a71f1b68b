"""The only task the engine carries: "run command N". Everything else lives on the Command row."""

from django.tasks import task

from jobs.worker import run


@task()
def run_command(command_id: int) -> str:
    """Run command ``command_id`` on this worker (a no-op if it is no longer queued)."""
    return str(run.run_command(command_id))
