"""Process helpers for the commands that start child processes (serve, worker pools).

Free of Django on purpose: ``manage.py serve`` builds its plan, then replaces itself with
``python -m jobportal.procs PLAN`` (same pid), so the process that only supervises holds
~15 MiB instead of a whole Django (~80 MiB).
"""

import ctypes
import json
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

_PR_SET_PDEATHSIG = 1
# A worker that gets this signal lost its supervisor: it stops its command now and exits, so
# no orphaned worker goes on running a command nobody supervises.
PARENT_DIED = signal.SIGUSR1


def die_with_parent(sig=signal.SIGTERM):
    """``preexec_fn``: the child gets ``sig`` when its parent dies, even by SIGKILL (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def worker_preexec():
    die_with_parent(PARENT_DIED)


def describe_exit(code):
    if code is not None and code < 0:
        return f"{code} ({signal.Signals(-code).name})"
    return str(code)


@dataclass
class Child:
    """A supervised process. ``argv`` is called for every start (e.g. for a fresh worker id).

    ``replace``: start a new one when it dies (with a growing delay while it keeps dying
    young); otherwise its death stops the supervisor and everything else.
    """

    name: str
    argv: object
    replace: bool = False
    preexec: object = die_with_parent
    pass_fds: tuple = ()
    proc: subprocess.Popen | None = None
    started: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None
    starts: int = 0


class Supervisor:
    """Starts children, replaces those that may be replaced, stops all on a signal.

    One signal per Ctrl-C/SIGTERM is passed on: the first asks for a clean stop, the second
    for an immediate one, the third kills. Children get their own sessions, so a terminal's
    Ctrl-C reaches only the supervisor.
    """

    MIN_BACKOFF, MAX_BACKOFF = 0.5, 30.0
    # A child that ran this long before dying starts its next life with the shortest delay.
    HEALTHY_SECONDS = 30.0

    def __init__(self, children, log, cwd=None):
        self.children, self.log, self.cwd = children, log, cwd
        self.stopping = 0
        self.exit_code = 0

    def start(self, child, now=None):
        child.proc = subprocess.Popen(child.argv(), cwd=self.cwd, start_new_session=True,
                                      preexec_fn=child.preexec, pass_fds=child.pass_fds)
        child.started, child.restart_at = now or time.monotonic(), None
        child.starts += 1

    def stop(self, signum=None, frame=None):
        if not self.stopping:
            self.log("Stopping (press Ctrl-C again to stop running commands)…")
        sig = signal.SIGKILL if self.stopping >= 2 else signal.SIGTERM
        for child in self.children:
            child.restart_at = None
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(sig)
        self.stopping += 1

    def check(self, now):
        """One supervision step: note deaths, schedule and perform replacements."""
        for child in self.children:
            if child.restart_at is not None and now >= child.restart_at and not self.stopping:
                self.start(child, now)
                self.log(f"{child.name} restarted (pid {child.proc.pid}).")
            if child.proc is None or child.restart_at is not None or self.stopping:
                continue
            code = child.proc.poll()
            if code is None:
                continue
            if not child.replace:
                self.log(f"{child.name} (pid {child.proc.pid}) exited with "
                         f"{describe_exit(code)}; stopping.")
                self.exit_code = 1
                self.stop()
                continue
            lived = now - child.started
            child.quick_deaths = 0 if lived >= self.HEALTHY_SECONDS else child.quick_deaths + 1
            delay = min(self.MAX_BACKOFF, self.MIN_BACKOFF * 2 ** max(0, child.quick_deaths - 1))
            child.restart_at = now + delay
            self.log(f"{child.name} (pid {child.proc.pid}) exited with {describe_exit(code)}; "
                     f"replacing it in {delay:g} s.")

    def running(self):
        return any(c.proc is not None and c.proc.poll() is None for c in self.children)

    def run(self, tick=0.2):
        """Supervise until stopped and every child has exited; returns the exit code."""
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGTERM, self.stop)
        for child in self.children:
            self.start(child)
        while not self.stopping or self.running():
            self.check(time.monotonic())
            time.sleep(tick)
        return self.exit_code


def listen(host, port, count=1, backlog=2048):
    """``count`` listening TCP sockets on ``host``:``port`` that children may inherit, one per
    web process. Several form one ``SO_REUSEPORT`` group, over which the kernel spreads new
    connections by their addresses: processes sharing one socket let whichever is first to
    accept take a whole burst, and keep-alive clients stay where they landed (measured here:
    all 16 of wrk's connections on one of two web processes in 2 runs of 12, each at a third
    of the others' throughput). A port already taken, by another group like this one too, is
    an OSError."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    # A socket with SO_REUSEPORT would join another serve's group on the same port: a plain
    # bind first tells whether the port is free.
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if count > 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            address = sock.getsockname()  # the port the first one got, when asked for 0
            sock.listen(backlog)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def plan_children(plan, listening=()):
    """The :class:`Child` list of a plan: ``[{"name", "argv", "replace", "listens"?}]``.
    Each child that ``listens`` gets the next of the ``listening`` sockets (its replacements
    the same one), its number in place of ``{fd}`` in its argv (the web processes); other
    replaced children are workers (they stop their commands when the supervisor dies)."""
    children, sockets = [], iter(listening)
    for entry in plan["children"]:
        if entry.get("listens"):
            fd = next(sockets).fileno()
            argv = [str(fd) if part == "{fd}" else part for part in entry["argv"]]
            children.append(Child(entry["name"], lambda argv=argv: argv,
                                  replace=entry["replace"], pass_fds=(fd,)))
            continue
        children.append(Child(entry["name"], lambda argv=entry["argv"]: argv,
                              replace=entry["replace"],
                              preexec=worker_preexec if entry["replace"] else die_with_parent))
    return children


def main(argv=None):
    """``python -m jobportal.procs PLAN``: supervise the children of a JSON plan
    (``{"cwd", "children", "listen"?: [host, port]}``) until stopped; exit with the
    supervisor's code."""
    plan = json.loads((argv or sys.argv)[1])

    def log(text):
        print(text, file=sys.stderr, flush=True)

    listening = []
    if plan.get("listen"):
        host, port = plan["listen"]
        try:
            listening = listen(host, port, count=sum(bool(c.get("listens"))
                                                     for c in plan["children"]))
        except OSError as exc:
            log(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.")
            return 1
        log(f"Listening on http://{host}:{port} (Ctrl-C to stop).")
    supervisor = Supervisor(plan_children(plan, listening), log=log, cwd=plan.get("cwd"))
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
