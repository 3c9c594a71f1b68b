"""ASGI entry point (uvicorn jobportal.asgi:application), served by ``manage.py serve``.

Django's own ASGI handler gives every request a fresh thread for its synchronous parts (the
views, most middleware, the ``request_started``/``request_finished`` signals). Database
connections belong to a thread, so with ``CONN_MAX_AGE`` each request opened a new connection
and dropped it unclosed with its thread: on PostgreSQL the server ran out of connections
under load (docs/benchmarks.md). Here the synchronous parts of a request run on one of a fixed
set of long-lived threads instead, like gunicorn's ``gthread`` workers, so connections persist,
are health-checked and retired by ``CONN_MAX_AGE`` as under WSGI, and never outnumber the
threads. A streaming response gives its thread back as soon as it starts streaming: an event
stream is an async generator and holds no thread while it waits. WebSocket connections, which
Django's handler refuses, go to :mod:`jobportal.websockets`.
"""

import asyncio
import contextvars
import os
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler

_request_thread = contextvars.ContextVar("jobportal_request_thread")


class RequestThreads:
    """``size`` single-thread executors; a request borrows one for its synchronous work."""

    def __init__(self, size):
        self.size = size
        self._free = None

    def _queue(self):
        if self._free is None:  # created lazily, in the server's event loop
            self._free = asyncio.Queue()
            for index in range(self.size):
                self._free.put_nowait(ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix=f"request-{index}"))
        return self._free

    async def borrow(self):
        return await self._queue().get()

    def give_back(self, executor):
        self._queue().put_nowait(executor)


class Borrowed:
    """One request's hold on a thread; ``release`` ends it early (idempotent)."""

    def __init__(self, threads, executor):
        self.threads, self.executor = threads, executor
        self.context = ThreadSensitiveContext(executor=executor)

    async def release(self):
        if self.executor is not None:
            await self.context.__aexit__(None, None, None)
            self.threads.give_back(self.executor)
            self.executor = None


class PooledThreadsASGIHandler(ASGIHandler):
    """Django's ASGI handler with the synchronous parts of requests on long-lived threads."""

    def __init__(self, threads):
        super().__init__()
        self.threads = RequestThreads(threads)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            return await websocket_dispatch(scope, receive, send)
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        borrowed = Borrowed(self.threads, await self.threads.borrow())
        await borrowed.context.__aenter__()
        token = _request_thread.set(borrowed)
        try:
            await super().__call__(scope, receive, send)
        finally:
            _request_thread.reset(token)
            await borrowed.release()

    async def send_response(self, response, send):
        if response.streaming:
            # The rest runs on the event loop; what still needs a thread (closing the
            # response) takes Django's default path.
            await _request_thread.get().release()
        return await super().send_response(response, send)


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobportal.settings")
django.setup(set_prefix=False)
from jobportal.websockets import dispatch as websocket_dispatch  # noqa: E402 (needs the apps)

application = PooledThreadsASGIHandler(int(os.environ.get("JOBPORTAL_WEB_THREADS", "8")))
