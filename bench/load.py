"""A small closed-loop HTTP load generator (keep-alive connections, several processes)."""

import http.client
import multiprocessing
import time
from urllib.parse import urlsplit


def _client(url, headers, seconds, queue):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    done, errors = 0, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status == 200:
            done += 1
        else:
            errors += 1
    conn.close()
    queue.put((done, errors))


def requests_per_second(url, headers=None, seconds=5.0, clients=4):
    """Completed 200 responses per second over ``seconds`` with ``clients`` processes."""
    queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_client, args=(url, headers or {}, seconds, queue))
             for _ in range(clients)]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    done = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    if errors:
        raise RuntimeError(f"{errors} non-200 responses from {url}")
    return done / seconds
