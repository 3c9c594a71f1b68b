"""Which sandbox shell commands get on this machine, from the settings and one real probe.

Modes: ``bubblewrap`` (every shell command runs in a bubblewrap sandbox, see
:mod:`jobs.executors.sandbox`), ``unavailable`` (the sandbox is asked for but cannot start
here: shell commands are refused) and ``off`` (the operator opted out with
``JOBPORTAL_SANDBOX=off``: commands run unsandboxed as the worker's user). The worker logs the
mode at start, ``/healthz``, the admin index and ``make run`` show it.
"""

import functools
import os
import pwd
import shutil
from dataclasses import dataclass

from django.conf import settings

from jobs.executors import sandbox as sandboxing

BUBBLEWRAP, UNAVAILABLE, OFF = "bubblewrap", "unavailable", "off"
# A root worker never runs a sandboxed command as root: root is exempt from RLIMIT_NPROC and,
# even mapped to another uid inside a user namespace, owns every root-owned file it can see.
ROOT_WORKER_DEFAULT_USER = "nobody"


@dataclass(frozen=True)
class SandboxStatus:
    mode: str
    reason: str = ""  # why it is unavailable, or what "off" means

    @property
    def summary(self):
        return f"{self.mode} ({self.reason})" if self.reason else self.mode


def enabled():
    return settings.JOBPORTAL["SANDBOX"] != OFF


def run_as_name():
    """The OS user shell commands run as: the configured one; else, for a root worker with the
    sandbox on, ``nobody``; else (empty) the worker's own user."""
    name = settings.JOBPORTAL["RUN_AS_USER"]
    if not name and enabled() and os.geteuid() == 0:
        return ROOT_WORKER_DEFAULT_USER
    return name


def bwrap_path():
    configured = settings.JOBPORTAL["BWRAP"]
    return shutil.which(configured) or configured


def status():
    """The sandbox mode of this process (probed once per process and configuration)."""
    config = settings.JOBPORTAL
    return _status(config["SANDBOX"], bwrap_path(), run_as_name(), str(config["WORK_ROOT"]))


@functools.cache
def _status(mode, bwrap, user_name, work_root):
    if mode == OFF:
        return SandboxStatus(OFF, "JOBPORTAL_SANDBOX=off: commands run unsandboxed")
    uid = gid = None
    if user_name:
        try:
            entry = pwd.getpwnam(user_name)
        except KeyError:
            return SandboxStatus(UNAVAILABLE, f"no such user {user_name!r} to run commands as")
        if entry.pw_uid != os.geteuid():
            uid, gid = entry.pw_uid, entry.pw_gid
    if (uid if uid is not None else os.geteuid()) == 0:
        return SandboxStatus(UNAVAILABLE, "commands would run as root, which owns every root "
                             "file in reach and ignores the process limit; set "
                             "JOBPORTAL_RUN_AS_USER to an ordinary user")
    # The work root is bound too: bwrap, running as that user, must be able to reach it.
    os.makedirs(work_root, exist_ok=True)
    problem = sandboxing.probe(bwrap, uid, gid, (work_root,))
    if problem and work_root in problem:
        problem += (f" (JOBPORTAL_WORK_ROOT and each directory above it must be traversable by "
                    f"{user_name or 'the worker user'}: chmod o+x)")
    return SandboxStatus(UNAVAILABLE, problem) if problem else SandboxStatus(BUBBLEWRAP)


def log_status(logger, who):
    """Say at a worker's start how it will run shell commands; a warning unless sandboxed."""
    state = status()
    log = logger.info if state.mode == BUBBLEWRAP else logger.warning
    log("%s; sandbox: %s", who, state.summary)
    if not run_as_name() and settings.JOBPORTAL["LIMIT_PROCESSES"]:
        logger.warning("%s: shell commands run as the worker's own user, so "
                       "JOBPORTAL_LIMIT_PROCESSES is not applied (the kernel would count the "
                       "worker's own processes too); set JOBPORTAL_RUN_AS_USER", who)


def spec_for(command, workdir, cwd):
    """The sandbox of one shell command: its work directory and working dir read-write, the
    operator's extra read-only paths, the host network only for the configured labels."""
    config = settings.JOBPORTAL
    binds = [sandboxing.Bind(str(workdir), writable=True)]
    if cwd != str(workdir):
        binds.append(sandboxing.Bind(cwd, writable=True))
    binds += [sandboxing.Bind(path) for path in config["SANDBOX_READ_ONLY_PATHS"]]
    labels = config["SANDBOX_NETWORK_LABELS"]
    return sandboxing.SandboxSpec(
        bwrap=bwrap_path(), binds=tuple(binds),
        network="*" in labels or command.label in labels,
    )
