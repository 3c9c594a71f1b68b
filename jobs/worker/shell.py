"""Shell commands on the worker: the glue between :class:`jobs.worker.run.CommandRun` and the
Django-free executor in :mod:`jobs.executors.shell`.

A fresh working directory per run (removed afterwards unless ``KEEP_WORKDIRS``), a clean
environment (nothing of the worker's own, plus ``runtime_env.env_vars`` and ``JOBPORTAL_*``
facts), the command's package (``runtime_env.package``) unpacked as its working directory, the
configured resource limits, the bubblewrap sandbox (:mod:`jobs.sandbox`; a command
is refused when the sandbox cannot start) and, optionally, another OS user.
"""

import os
import pwd
import shutil
import signal
from pathlib import Path

from jobs import packages, sandbox
from jobs.executors import shell
from jobs.logs import tail
from jobs.models import Status
from jobs.worker.leftovers import run_marker

SAFE_BASE_ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
PACKAGE_DIR = "working_dir"  # where a command's package is unpacked, in its work directory


def run_shell(run):
    """Run ``run.command`` (a claimed shell command) with ``run`` as the executor's hooks;
    return the outcome dict for ``CommandRun._record``."""
    return ShellCommandRun(run).execute()


class ShellCommandRun:
    """One shell command's run: where, with what environment and limits, and how it ended."""

    def __init__(self, run):
        self.run = run
        self.command = run.command
        self.config = run.config

    def execute(self):
        state = sandbox.status()
        if state.mode == sandbox.UNAVAILABLE:
            return {"status": Status.ERROR, "error_type": "SandboxUnavailable",
                    "error_message": "Shell commands run only in a sandbox, and this worker "
                                     f"cannot start one: {state.reason}. Operators: see "
                                     "docs/commands.md#isolation."}
        workdir = self.workdir()
        try:
            # The package is unpacked while the work directory is still the worker's alone.
            cwd = self.working_directory(workdir)
            uid, gid = self.run_as(workdir)
            spec = shell.ShellSpec(
                argv=[self.config["SHELL"], "-c", self.command.script],
                env=self.environment(workdir), cwd=cwd, timeout=self.command.timeout,
                kill_grace=self.config["KILL_GRACE_SECONDS"],
                sandbox=sandbox.spec_for(self.command, workdir, cwd)
                if sandbox.enabled() else None,
                user=uid, group=gid, limits=self.limits(own_user=uid is not None),
            )
            return self.outcome(shell.run(spec, self.run, tick_interval=0.1))
        except (KeyError, PermissionError) as exc:
            return {"status": Status.ERROR, "error_type": "StartFailed",
                    "error_message": f"Cannot run as user {sandbox.run_as_name()!r}: {exc}"}
        except packages.PackageError as exc:
            return {"status": Status.ERROR, "error_type": "RuntimeEnvSetupFailed",
                    "error_message": f"The working directory package cannot be unpacked: "
                                     f"{exc.message}"}
        except shell.ExecutorError as exc:
            return {"status": Status.ERROR, "error_type": "StartFailed", "error_message": str(exc)}
        finally:
            if not self.config["KEEP_WORKDIRS"]:
                shutil.rmtree(workdir, ignore_errors=True)

    def working_directory(self, workdir):
        """Where the command starts: its package unpacked in the work directory, an allowed
        ``working_dir`` of the host, or the fresh work directory itself."""
        env = self.command.runtime_env or {}
        uri = env.get("package")
        if uri:
            package = packages.find(self.command.account_id, uri)
            if package is None:
                raise packages.PackageError(f"{uri} is no longer stored (pruned or deleted).")
            target = workdir / PACKAGE_DIR
            packages.unpack(package, target)
            return str(target)
        return env.get("working_dir") or str(workdir)

    def workdir(self):
        root = Path(self.config["WORK_ROOT"])
        path = root / f"{self.command.pk}-{self.command.attempt}-{self.command.worker_id}"
        (path / "tmp").mkdir(parents=True, mode=0o700, exist_ok=True)
        return path

    def environment(self, workdir):
        """A clean environment: nothing of the worker's own (no secrets), plus the command's
        ``runtime_env.env_vars`` and ``JOBPORTAL_*`` facts; the run marker cannot be overridden."""
        command = self.command
        env = {**SAFE_BASE_ENV, "PATH": self.config["SHELL_PATH"], "HOME": str(workdir),
               "TMPDIR": str(workdir / "tmp")}
        env.update((command.runtime_env or {}).get("env_vars") or {})
        env.update({
            "JOBPORTAL_COMMAND_ID": str(command.pk),
            "JOBPORTAL_SUBMISSION_ID": command.submission_id,
            "JOBPORTAL_ACCOUNT": command.account.slug,
            "JOBPORTAL_ATTEMPT": str(command.attempt),
            "JOBPORTAL_WORKDIR": str(workdir),
        })
        key, _, value = run_marker(command.pk, command.worker_id).partition("=")
        env[key] = value
        return env

    def limits(self, own_user):
        """The configured limits. The process limit only with a user of the command's own: the
        kernel counts every process of the uid, the worker's and its login session's too."""
        c = self.config
        return shell.ResourceLimits(
            cpu_seconds=c["LIMIT_CPU_SECONDS"] or None,
            memory_bytes=c["LIMIT_MEMORY_BYTES"] or None,
            file_size_bytes=c["LIMIT_FILE_SIZE_BYTES"] or None,
            open_files=c["LIMIT_OPEN_FILES"] or None,
            processes=(c["LIMIT_PROCESSES"] or None) if own_user else None,
        )

    def run_as(self, workdir):
        """(uid, gid) of the run-as user (:func:`jobs.sandbox.run_as_name`), owning the fresh
        working directory and the unpacked package; (None, None) to stay the worker's own
        user."""
        name = sandbox.run_as_name()
        if not name:
            return None, None
        entry = pwd.getpwnam(name)
        if entry.pw_uid == os.geteuid():
            return None, None
        if (workdir / PACKAGE_DIR).is_dir():
            packages.give(workdir / PACKAGE_DIR, entry.pw_uid, entry.pw_gid)
        for path in (workdir, workdir / "tmp"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        return entry.pw_uid, entry.pw_gid

    def outcome(self, outcome):
        """The status, exit code and error of a finished run, for ``lifecycle.finish``."""
        self.run.log.flush()  # the error message quotes the last output, read back from storage
        code = outcome.exit_code
        if outcome.signal:
            code = 128 + outcome.signal
        fields = {"exit_code": code}
        if self.run.aborted:
            return {**fields, "status": Status.ERROR, "error_type": "WorkerStopped",
                    "error_message": "The worker was stopped while the command ran."}
        if outcome.cancelled:
            return {**fields, "status": Status.CANCELLED}
        if outcome.timed_out:
            return {**fields, "status": Status.ERROR, "error_type": "Timeout",
                    "error_message": f"Killed after its timeout of {self.command.timeout} s."
                                     + self.last_output()}
        if code == 0:
            return {**fields, "status": Status.DONE}
        if outcome.signal:
            name = signal.Signals(outcome.signal).name
            return {**fields, "status": Status.ERROR, "error_type": "Killed",
                    "error_message": f"Terminated by {name}." + self.last_output()}
        return {**fields, "status": Status.ERROR, "error_type": "NonZeroExit",
                "error_message": f"Exited with code {code}." + self.last_output()}

    def last_output(self):
        """The tail of stderr (or of stdout when stderr is empty), for error messages."""
        log = self.run.log
        text = tail(self.command.pk, log.stream_sizes["stderr"], 2000, stream="stderr")
        if not text.strip():
            text = tail(self.command.pk, log.stream_sizes["stdout"], 2000, stream="stdout")
        return f"\n--- last output ---\n{text}" if text.strip() else ""
