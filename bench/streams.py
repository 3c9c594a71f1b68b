"""Hold N server-sent-event streams or WebSocket log tails open (a separate process for the
status benchmark).

    python bench/streams.py URL TOKEN N

Prints ``open N`` once all N streams have sent their first event (tails: once their handshake
is done), then keeps reading them, reconnecting one that ends (streams end after 60 s, as
EventSource would), until stdin closes. A URL ending in ``/logs/tail`` is a tail.
"""

import asyncio
import sys

import aiohttp
import httpx


async def hold(client, url, headers, opened, stop):
    first = True
    while not stop.is_set():
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                raise RuntimeError(f"stream answered {response.status_code}")
            async for _line in response.aiter_lines():
                if first:
                    first = False
                    opened.release()
                if stop.is_set():
                    return


async def hold_tail(session, url, opened, stop):
    async with session.ws_connect(url) as ws:
        opened.release()
        while not stop.is_set():
            message = await ws.receive()
            if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return


async def tails(url, headers, count):
    opened, stop = asyncio.Semaphore(0), asyncio.Event()
    connector = aiohttp.TCPConnector(limit=count + 10)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        tasks = [asyncio.create_task(hold_tail(session, url, opened, stop))
                 for _ in range(count)]
        for _ in range(count):
            await opened.acquire()
        print(f"open {count}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def main(url, token, count):
    headers = {"Authorization": f"Bearer {token}"}
    if url.endswith("/logs/tail"):
        return await tails(url, headers, count)
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)
    opened, stop = asyncio.Semaphore(0), asyncio.Event()
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=120), limits=limits) as client:
        tasks = [asyncio.create_task(hold(client, url, headers, opened, stop))
                 for _ in range(count)]
        for _ in range(count):
            await opened.acquire()
        print(f"open {count}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
