"""The bubblewrap sandbox around one shell command (standard library only; no Django).

:class:`SandboxSpec` says what the command may see; :meth:`SandboxSpec.options` turns it into
bwrap's options, which :class:`Launch` hands to bwrap through a file descriptor (``--args``),
so the environment given to the command shows in no process's command line (inside the
sandbox, bwrap's init is pid 1 and its command line is readable).

Inside: own user, PID, IPC, UTS, cgroup and (by default) network namespaces; a fresh ``/proc``
and a minimal ``/dev``; the system directories and a short list of ``/etc`` files read-only;
a private ``/tmp``; the given directories read-write at their own paths; nothing else of the
host (no portal code, data directory, database file, secret key or other commands' work
directories). No capabilities, no further user namespaces. bwrap runs an init process as pid 1
and when the command ends, that init is killed and every process left in the namespace with
it (``--die-with-parent``), whatever it did to escape its process group or its environment.
"""

import functools
import json
import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass

# Programs and their libraries. On a merged-/usr system the top-level ones are symlinks and
# are recreated as symlinks; where they are real directories they are bound read-only.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")

# What ordinary programs read from /etc: user and host name lookup, DNS, TLS roots, the
# dynamic linker's cache, time zones, Debian's alternatives (/usr/bin/awk points there), shell
# start-up files. Not all of /etc: it is where a host keeps its own configuration, and some of
# it (an env file with the portal's secrets, database client configs) is readable by the user
# the worker runs as, which can be the user commands run as.
ETC_ENTRIES = (
    "passwd", "group", "nsswitch.conf", "host.conf", "hosts", "hostname", "resolv.conf",
    "gai.conf", "protocols", "services", "ssl", "ca-certificates", "ca-certificates.conf",
    "pki", "crypto-policies", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime",
    "timezone", "alternatives", "mime.types", "os-release", "lsb-release", "debian_version",
    "bash.bashrc", "profile", "inputrc", "magic", "mailcap",
    "python3", "perl", "gitconfig", "wgetrc", "papersize", "locale.alias", "locale.conf",
)

PROBE_TIMEOUT = 30.0


@dataclass(frozen=True)
class Bind:
    """A host directory made visible at the same path inside the sandbox."""

    path: str
    writable: bool = False


@dataclass(frozen=True)
class SandboxSpec:
    """What one command may see and reach. `binds` are the only host paths besides the
    system directories; `network` shares the host's network instead of a loopback-only one."""

    bwrap: str = "bwrap"
    binds: tuple[Bind, ...] = ()
    network: bool = False

    def options(self, env: dict[str, str], cwd: str, info_fd: int | None = None) -> list[str]:
        """bwrap's options to run a command in `cwd` with exactly `env`; with `info_fd`, bwrap
        writes the host pid of the sandbox's init there. The command follows a ``--``."""
        args = self.namespace_arguments()
        args += ["--clearenv"]
        for name, value in env.items():
            args += ["--setenv", name, value]
        args += filesystem_arguments()
        for bind in self.binds:
            args += ["--bind" if bind.writable else "--ro-bind", bind.path, bind.path]
        args += ["--chdir", cwd]
        if info_fd is not None:
            args += ["--info-fd", str(info_fd)]
        return args

    def namespace_arguments(self) -> list[str]:
        args = [
            "--unshare-user", "--disable-userns", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL",
        ]
        if not self.network:
            args.append("--unshare-net")  # a namespace of its own: loopback only
        return args


def filesystem_arguments() -> list[str]:
    """The read-only system part of the sandbox's file system, as found on this host."""
    args: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in ETC_ENTRIES:
        path = f"/etc/{name}"
        if os.path.islink(path) and not os.path.isabs(os.readlink(path)):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            args += ["--ro-bind", path, path]  # an absolute link is followed by the bind
    # Fresh, empty temporary directories of the sandbox's own, not the host's.
    private_tmp = ["--tmpfs", "/tmp", "--tmpfs", "/var/tmp"]  # noqa: S108
    return [*args, "--proc", "/proc", "--dev", "/dev", *private_tmp]


@functools.cache
def probe(bwrap: str, user: int | None = None, group: int | None = None,
          paths: tuple[str, ...] = ()) -> str | None:
    """Start a real sandbox once (per process and arguments) as `user`, with `paths` bound;
    None if it works, else why not (bwrap missing, user namespaces unavailable, a path the
    user cannot reach, ...)."""
    spec = SandboxSpec(bwrap=bwrap, binds=tuple(Bind(path) for path in paths))
    argv = [bwrap, *spec.options({}, "/"), "--", "/bin/sh", "-c", "exit 0"]
    try:
        result = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT,
            cwd="/", user=user, group=group, extra_groups=[] if user is not None else None,
        )
    except FileNotFoundError:
        return f"bubblewrap not found at {bwrap!r}"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot start bubblewrap ({bwrap!r}): {exc}"
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip() or f"exit {result.returncode}"
        return f"bubblewrap cannot create a sandbox here: {message}"
    return None


class Launch:
    """Starting bwrap for one command: its arguments in a memory file (``--args``), and a
    pipe on which bwrap tells the host pid of the sandbox's init (``--info-fd``)."""

    def __init__(self, spec: SandboxSpec, command: list[str], env: dict[str, str], cwd: str):
        self.info_read, self.info_write = os.pipe()
        self.args_fd = os.memfd_create("bwrap-args", 0)
        options = spec.options(env, cwd, info_fd=self.info_write)
        if any("\0" in option for option in options):
            self.close()
            raise ValueError("the environment must not contain NUL bytes")
        os.write(self.args_fd, b"".join(os.fsencode(option) + b"\0" for option in options))
        os.lseek(self.args_fd, 0, os.SEEK_SET)
        # bwrap takes options from the file, but the command only from its own argv.
        self.argv = [spec.bwrap, "--args", str(self.args_fd), "--", *command]
        self.pass_fds = (self.args_fd, self.info_write)

    def started(self) -> None:
        """bwrap has its copies of the descriptors now; ours of its ends go."""
        for fd in (self.args_fd, self.info_write):
            os.close(fd)
        self.args_fd = self.info_write = -1

    def init_pid(self, timeout: float = PROBE_TIMEOUT) -> int | None:
        """The host pid of the sandbox's init (leader of the sandbox's process group), or None
        when bwrap failed before it created the sandbox (its stderr says why)."""
        data = b""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.info_read], [], [], remaining)
            if not ready:
                break
            chunk = os.read(self.info_read, 4096)
            if not chunk:
                break
            data += chunk
        try:
            return int(json.loads(data)["child-pid"]) if data else None
        except (ValueError, KeyError, TypeError):
            return None

    def close(self) -> None:
        for fd in (self.info_read, self.info_write, self.args_fd):
            if fd >= 0:
                os.close(fd)
        self.info_read = self.info_write = self.args_fd = -1


def decode_status(returncode: int) -> tuple[int | None, int | None]:
    """(exit code, signal) of a sandboxed command from bwrap's own return code: bwrap reports a
    command killed by signal N as 128 + N, the shells' convention, so an ``exit 143`` reads as
    death by SIGTERM too."""
    if returncode < 0:
        return None, -returncode  # bwrap itself was killed
    if returncode > 128 and (returncode - 128) in signal.valid_signals():
        return None, returncode - 128
    return returncode, None
