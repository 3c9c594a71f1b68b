"""Live tail latency: from a line printed by a running command to a reader holding it.

    .venv/bin/python bench/tail_latency.py [--quick] [--database-url URL]

A command prints its own clock (``date +%s.%N``) every 0.2 s; readers on the same machine
note when each line reaches them: through the portal's server-sent events
(``/api/v1/commands/{id}/events/``) and through the Ray shape's WebSocket
(``/api/jobs/{id}/logs/tail``), both at once. Summary lines ``name p50_ms floor ratio
target``: the floor is the flush interval (``JOBPORTAL_LOG_FLUSH_SECONDS``), the time output
may wait in the worker before anyone can read it.
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.portal import Portal

FLUSH_SECONDS = 0.5


def delays(text, seen_at):
    """Milliseconds from each timestamp line in ``text`` to ``seen_at``."""
    found = []
    for line in text.splitlines():
        try:
            printed = float(line.strip())
        except ValueError:
            continue
        found.append((seen_at - printed) * 1000)
    return found


async def follow_events(url, token, pk, into):
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=300) as client, client.stream(
            "GET", f"{url}/api/v1/commands/{pk}/events/", headers=headers) as response:
        event = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "log":
                into += delays(json.loads(line[6:])["data"], time.time())
            elif line.startswith("data: ") and event == "end":
                return


async def follow_websocket(url, token, pk, into):
    address = url.replace("http://", "ws://") + f"/api/jobs/{pk}/logs/tail"
    async with websockets.connect(
            address, additional_headers={"Authorization": f"Bearer {token}"}) as socket:
        async for message in socket:
            into += delays(message, time.time())


async def measure(url, token, pk):
    sse, ws = [], []
    await asyncio.wait_for(asyncio.gather(follow_events(url, token, pk, sse),
                                          follow_websocket(url, token, pk, ws)), 300)
    return sse, ws


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="25 lines instead of 100.")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    lines = 25 if args.quick else 100
    portal = Portal(args.database_url, JOBPORTAL_LOG_FLUSH_SECONDS=str(FLUSH_SECONDS))
    token = portal.setup()
    url, _ = portal.serve(concurrency=1)
    try:
        script = f"sleep 1; for i in $(seq {lines}); do date +%s.%N; sleep 0.2; done"
        response = httpx.post(f"{url}/api/v1/commands/", headers={
            "Authorization": f"Bearer {token}"}, json={"command_type": "shell",
                                                       "script": script})
        response.raise_for_status()
        pk = response.json()["id"]
        sse, ws = asyncio.run(measure(url, token, pk))
        print(f"# {lines} lines, one every 0.2 s; {len(sse)} seen by SSE, {len(ws)} by the "
              "WebSocket", flush=True)
        print("# name p50_ms floor_ms ratio target", flush=True)
        floor = FLUSH_SECONDS * 1000
        for name, seen in (("tail_sse_p50_ms", sse), ("tail_ray_ws_p50_ms", ws)):
            if len(seen) < lines:
                raise RuntimeError(f"{name}: only {len(seen)} of {lines} lines arrived")
            value = statistics.median(seen)
            print(f"{name} {value:.0f} {floor:.0f} {value / floor:.2f} -", flush=True)
    finally:
        portal.stop()


if __name__ == "__main__":
    main()
