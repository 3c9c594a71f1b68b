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
Django's handler refuses, go to :mod:`jobportal.websockets`. A body larger than any endpoint
accepts is refused with 413 before Django spools it to disk (:func:`body_ceiling`).
"""

import asyncio
import contextvars
import json
import os
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
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


def body_ceiling():
    """The largest request body any endpoint accepts (a dataset, a package, anything else),
    in bytes. Django's ASGI handler spools the whole body to a temporary file before any view
    or authentication runs, so without this a client could fill the disk with one request."""
    from django.conf import settings

    config = settings.JOBPORTAL
    return max(settings.DATA_UPLOAD_MAX_MEMORY_SIZE, config["MAX_DATASET_BYTES"] + 2**20,
               config["MAX_PACKAGE_BYTES"])


async def refuse_large(send, ceiling):
    body = json.dumps({"type": "about:blank", "title": "Content Too Large", "status": 413,
                       "detail": f"The request body is larger than {ceiling} bytes, the most "
                                 "any endpoint accepts.", "instance": ""}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/problem+json"), (b"connection", b"close"),
        (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def bounded(receive, send, ceiling):
    """``receive`` that answers 413 and reports a disconnect once the body passes ``ceiling``
    (for bodies without a Content-Length; Django then abandons the request)."""
    seen = 0

    async def receive_bounded():
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > ceiling:
            await refuse_large(send, ceiling)
            return {"type": "http.disconnect"}
        return message

    return receive_bounded


class PooledThreadsASGIHandler(ASGIHandler):
    """Django's ASGI handler with the synchronous parts of requests on long-lived threads.

    The middleware chain is built in synchronous mode and runs whole in one hop onto the
    request's thread. Django's asynchronous chain, with synchronous middleware (WhiteNoise,
    sessions, ... all are), hops three times: onto a thread for the middleware, back to the
    event loop for URL resolution (``async_to_sync``), onto a thread again for the view; on a
    small request those hops cost more than the view (docs/benchmarks.md). The portal has no
    asynchronous views; event streams are synchronous views whose response iterates
    asynchronously, which :meth:`send_response` serves on the event loop either way.
    """

    def __init__(self, threads):
        super().__init__()
        self.load_middleware(is_async=False)
        self.threads = RequestThreads(threads)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response)(request)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            return await websocket_dispatch(scope, receive, send)
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        ceiling = body_ceiling()
        length = dict(scope.get("headers", [])).get(b"content-length", b"")
        if length.isdigit() and int(length) > ceiling:
            return await refuse_large(send, ceiling)
        receive = bounded(receive, send, ceiling)
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
