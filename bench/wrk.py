"""Load from a separate process: wrk, its output parsed, and medians of A/B rounds."""

import re
import statistics
import subprocess

CONNECTIONS = 16
THREADS = 2


def requests_per_second(url, seconds, headers=None, connections=CONNECTIONS):
    """wrk's ``Requests/sec`` for ``url``; any non-2xx answer or socket error (a request
    slower than 10 s counts as one) fails the run."""
    argv = ["wrk", f"-t{THREADS}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], check=True, capture_output=True, text=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    if bad or (errors and any(int(n) for n in errors.groups())):
        raise RuntimeError(f"wrk against {url} saw errors:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return float(match.group(1))


def ab_rounds(measure_a, measure_b, rounds):
    """Alternate A and B (ABBA...) ``rounds`` times; the two medians and every round."""
    a, b = [], []
    for index in range(rounds):
        pair = (measure_a, a), (measure_b, b)
        for measure, into in pair if index % 2 == 0 else reversed(pair):
            into.append(measure())
    return statistics.median(a), statistics.median(b), a, b


def paired_ratio(a, b):
    """The median of B/A over the rounds, each B against the A measured beside it. Slow drift
    of the machine (another VM's load, a cold cache) moves both halves of a round alike and
    cancels here, where a ratio of the two medians can pair a fast A with a slow B."""
    return statistics.median(y / x for x, y in zip(a, b, strict=True))
