"""Finding and killing the processes of one run by the marker in their environment (Linux
``/proc``; standard library only, no Django).

Every process of a command's run inherits ``JOBPORTAL_RUN=<portal>/<worker>/<command>``
(:func:`run_marker`), so the leftovers of a run whose worker died can be found again on the
same machine, even background children that left the command's process group.
"""

import os
import signal

MARKER = "JOBPORTAL_RUN"


def run_marker(installation, worker_id, command_id):
    """The ``NAME=VALUE`` environment entry of one run of a command."""
    return f"{MARKER}={installation}/{worker_id}/{command_id}"


def parse_marker_value(value):
    """``(installation, worker_id, command_id)`` of a marker value, or None."""
    installation, _, rest = value.partition("/")
    worker_id, _, command_id = rest.rpartition("/")
    if not installation or not worker_id or not command_id.isdigit():
        return None
    return installation, worker_id, int(command_id)


def marked_processes(name: str) -> dict[str, list[int]]:
    """Every other process whose environment has the variable ``name``, by its value."""
    prefix = os.fsencode(name) + b"="
    own_pid = os.getpid()
    found: dict[str, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == own_pid:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                entries = environ.read().split(b"\0")
        except (PermissionError, FileNotFoundError, ProcessLookupError):
            continue
        for item in entries:
            if item.startswith(prefix):
                found.setdefault(os.fsdecode(item[len(prefix):]), []).append(int(entry))
    return found


def kill_marked_processes(marker: str, sig: int = signal.SIGKILL) -> int:
    """Send `sig` to every other process whose environment holds the exact entry `marker`.

    `marker` is a NAME=VALUE entry the caller put into a command's environment, so that the
    leftovers of a command whose worker died can be found again. Returns how many processes
    were signalled. Processes that vanish or cannot be read are skipped.
    """
    if "=" not in marker:
        raise ValueError(f"marker must be an environment entry NAME=VALUE, got {marker!r}")
    wanted = os.fsencode(marker)
    own_pid = os.getpid()
    signalled = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == own_pid:
            continue
        try:
            # The environment as it was at exec; a zombie's reads as empty and never matches.
            with open(f"/proc/{name}/environ", "rb") as environ:
                entries = environ.read().split(b"\0")
            if wanted in entries:
                os.kill(int(name), sig)
                signalled += 1
        except (PermissionError, FileNotFoundError, ProcessLookupError):
            continue
    return signalled


def kill_pids(pids, sig=signal.SIGKILL):
    """Send ``sig`` to each pid that still exists; return how many were signalled."""
    signalled = 0
    for pid in pids:
        try:
            os.kill(pid, sig)
            signalled += 1
        except ProcessLookupError:
            pass
    return signalled
