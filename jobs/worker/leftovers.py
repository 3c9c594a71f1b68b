"""Processes left behind on this machine by runs that are no longer running under their worker.

A command whose worker died is failed by the reaper (``WorkerLost``) on whichever machine
notices first; its processes can only be killed on the machine they run on. Every worker
therefore sweeps its own machine after each reaper pass: processes carrying this portal's run
marker (:mod:`jobs.executors.processes`) whose command is not running under that worker any
more are killed. The parent-death signal reaches only a command's leader, not what it started.
"""

import hashlib
import logging

from django.conf import settings

from jobs.executors import processes
from jobs.models import Command, Status

logger = logging.getLogger(__name__)


def installation_id():
    """Tells apart portals (say staging and production) whose workers share a machine."""
    db = settings.DATABASES["default"]
    identity = f"{db['ENGINE']}|{db.get('HOST')}|{db.get('PORT')}|{db['NAME']}"
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


def run_marker(command_id, worker_id):
    """The environment entry that marks every process of one run of a command: this portal,
    the worker (random per worker process) and the command."""
    return processes.run_marker(installation_id(), worker_id, command_id)


def sweep_local_leftovers():
    """Kill this portal's marked processes on this machine whose run is over; return how many."""
    ours = installation_id()
    runs = {}
    for value, pids in processes.marked_processes(processes.MARKER).items():
        parsed = processes.parse_marker_value(value)
        if parsed is not None and parsed[0] == ours:
            runs[parsed[1:]] = pids
    if not runs:
        return 0
    live = set(
        Command.objects.filter(pk__in={pk for _, pk in runs}, status=Status.RUNNING)
        .order_by().values_list("worker_id", "id")
    )
    killed = 0
    for (worker_id, command_id), pids in runs.items():
        if (worker_id, command_id) in live:
            continue
        killed += processes.kill_pids(pids)
        logger.warning("command %s: killed %d leftover process(es) of worker %s",
                       command_id, len(pids), worker_id)
    return killed

