"""The portal's Ray shape against a real Ray head, side by side in one run.

    .venv/bin/python bench/against_ray.py [--quick] [--jobs 50] [--database-url URL]
                                          [--ray-bin PATH]

Ray's head needs ``ray[default]`` (its dashboard serves the job API), which the portal does not
install: the first run makes a virtual environment of its own for it under
``~/.cache/jobportal/bench-ray-<version>`` (the version of the ``ray`` client in the portal's
environment, so client and head match), or takes the ``ray`` program given by ``--ray-bin``.
Where Ray cannot be installed or its head does not start, the run prints why and ends without
figures (exit 0): the comparison is optional.

The head is started on loopback (``ray start --head --block``, usage statistics off, its
dashboard and the node address on 127.0.0.1; Ray's own services still bind every interface)
and the portal is served as `make run` serves it. Then, against each in turn:

- ``ray_side_submit_p50_s``: ``echo hi`` submitted through the same ``JobSubmissionClient``
  and its status read every 10 ms until SUCCEEDED, ``--jobs`` times, one job at a time (the
  first, a warm-up, not counted); target under 0.2 s;
- ``ray_side_job_rps``: ``GET /api/jobs/{id}`` of a finished job under wrk, in alternating
  rounds;
- ``ray_side_list_rps``: ``GET /api/jobs/``, every job of the run (``--jobs`` + 1 on each);
  issue 10's goal: 5x Ray;
- ``ray_side_idle_rss_mib``: the resident memory of everything each started, after the jobs
  (target < 300 MiB for the portal).

One summary line per figure: ``name portal ray ratio target`` (Ray's figure is the floor).
"""

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dispatch import rss_mib, tree
from bench.portal import Portal, free_port, line, wait_http
from bench.ray_client import submit_until_succeeded
from bench.wrk import ab_rounds, paired_ratio, requests_per_second


class Skip(Exception):
    """Ray is not available here; the reason is the message."""


def ray_program(given):
    """The ``ray`` program of an environment with ``ray[default]`` of the client's version."""
    if given:
        return given
    try:
        import ray
    except ImportError as error:
        raise Skip(f"Ray's client is not installed here ({error}): make install") from error
    version = ray.__version__
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    venv = cache / "jobportal" / f"bench-ray-{version}"
    program = venv / "bin" / "ray"
    if program.exists():
        return str(program)
    print(f"# installing ray[default]=={version} into {venv}", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True,
                       capture_output=True, text=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet",
                        f"ray[default]=={version}"], check=True, capture_output=True,
                       text=True, timeout=900)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        output = (getattr(error, "stderr", "") or "").strip().splitlines()[-3:]
        with contextlib.suppress(OSError):
            program.unlink()
        raise Skip(f"ray[default]=={version} could not be installed: "
                   f"{' / '.join(output) or error}") from error
    return str(program)


class RayHead:
    """``ray start --head --block`` on loopback in a session of its own."""

    def __init__(self, program):
        self.dir = Path(tempfile.mkdtemp(prefix="jp-ray-"))  # short: Ray puts sockets here
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        self.log = open(self.dir / "head.log", "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [program, "start", "--head", "--block", "--disable-usage-stats",
             "--node-ip-address", "127.0.0.1", "--port", str(free_port()),
             "--include-dashboard", "true", "--dashboard-host", "127.0.0.1",
             "--dashboard-port", str(self.port), "--temp-dir", str(self.dir),
             "--num-cpus", "2"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_http(f"{self.url}/api/version", timeout=120)
        except RuntimeError as error:
            tail = (self.dir / "head.log").read_text()[-600:]
            self.stop()
            raise Skip(f"Ray's head did not answer on {self.url}: {tail}") from error

    def pids(self):
        return tree(self.proc.pid)

    def stop(self):
        pids = self.pids()
        for pid in reversed(pids):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists()
                                                   for pid in pids):
            time.sleep(0.2)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def warm_client(url, headers=None, timeout=120):
    """A ``JobSubmissionClient`` once the server takes jobs (Ray's job agent comes up after
    its dashboard answers); its first job has run."""
    from ray.job_submission import JobSubmissionClient

    deadline = time.monotonic() + timeout
    while True:
        try:
            client = JobSubmissionClient(url, headers=headers)
            submit_until_succeeded(client, 1)
            return client
        except (RuntimeError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10 jobs, 3 short rounds.")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seconds", type=int, default=None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--ray-bin", default=None)
    args = parser.parse_args()
    jobs = args.jobs or (10 if args.quick else 50)
    rounds = args.rounds or (3 if args.quick else 5)
    seconds = args.seconds or (2 if args.quick else 5)
    try:
        head = RayHead(ray_program(args.ray_bin))
    except Skip as reason:
        print(f"# against Ray: skipped: {reason}", flush=True)
        return
    portal = Portal(args.database_url)
    try:
        token = portal.setup()
        url, serve = portal.serve()
        auth = {"Authorization": f"Bearer {token}"}
        print(f"# Ray head {head.url} ({head.dir}); portal {url}, database "
              f"{portal.env['DATABASE_URL'].split(':')[0]}", flush=True)
        print("# name portal ray ratio target", flush=True)
        try:
            ray_client = warm_client(head.url)
        except (RuntimeError, ConnectionError) as error:
            print(f"# against Ray: skipped: Ray's head took no job: {error}", flush=True)
            return
        ours_client = warm_client(url, auth)
        ray_times, ray_last = submit_until_succeeded(ray_client, jobs)
        ours_times, ours_last = submit_until_succeeded(ours_client, jobs)
        line("ray_side_submit_p50_s", statistics.median(ours_times),
             statistics.median(ray_times), "<0.2 s", digits=3)

        time.sleep(2)  # both idle: Ray's job drivers gone, the portal's worker back to waiting
        line("ray_side_idle_rss_mib", rss_mib(tree(serve.pid)), rss_mib(head.pids()),
             "<300 MiB", digits=0)

        for name, path, target in (("ray_side_job_rps", "/api/jobs/{}", "-"),
                                   ("ray_side_list_rps", "/api/jobs/", "5.00")):
            ray_rps, ours_rps, ray_rounds, ours_rounds = ab_rounds(
                lambda p=path: requests_per_second(head.url + p.format(ray_last), seconds),
                lambda p=path: requests_per_second(url + p.format(ours_last), seconds, auth),
                rounds)
            print(f"#   {name}: portal {[round(x) for x in ours_rounds]}, Ray "
                  f"{[round(x) for x in ray_rounds]}", flush=True)
            line(name, ours_rps, ray_rps, target, digits=0,
                 ratio=paired_ratio(ray_rounds, ours_rounds))
    finally:
        portal.stop()
        head.stop()


if __name__ == "__main__":
    main()
