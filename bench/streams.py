"""Hold N server-sent-event streams open (a separate process for the status benchmark).

    python bench/streams.py URL TOKEN N

Prints ``open N`` once all N streams have sent their first event, then keeps reading them,
reconnecting one that ends (streams end after 60 s, as EventSource would), until stdin closes.
"""

import asyncio
import sys

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


async def main(url, token, count):
    headers = {"Authorization": f"Bearer {token}"}
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
