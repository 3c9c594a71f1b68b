"""WebSocket connections, which Django's ASGI handler does not take: routed here by
:mod:`jobportal.asgi` to small async apps, each authenticating like every other endpoint.

A connection that cannot go on (no such path, no valid token, no such object) is refused
before the handshake with a plain HTTP answer when the server supports it (the ASGI
``websocket.http.response`` extension, which uvicorn offers), so clients see 401/404/429
as for any request; otherwise it is closed with 1008 (policy violation).
"""

import importlib
import re

from django.http import QueryDict

# path pattern -> "module.function" of an app called with (scope, receive, send, **groups).
ROUTES = [
    (re.compile(r"^/api/jobs/(?P<ref>[^/]+)/logs/tail/?$"), "jobs.compat.ray.tail.tail_logs"),
]


async def dispatch(scope, receive, send):
    """The ASGI app of every ``websocket`` scope."""
    for pattern, target in ROUTES:
        match = pattern.match(scope.get("path", ""))
        if match:
            module, _, name = target.rpartition(".")
            app = getattr(importlib.import_module(module), name)
            return await app(scope, receive, send, **match.groupdict())
    await receive()  # websocket.connect
    return await deny(scope, send, 404, "No such WebSocket endpoint.")


async def deny(scope, send, status, text):
    """Refuse the handshake: an HTTP answer where the server supports one, else close 1008."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
        await send({"type": "websocket.http.response.body", "body": text.encode()})
    else:
        await send({"type": "websocket.close", "code": 1008})


def request_meta(scope):
    """``(META, GET)`` of the handshake as Django would build them: ``HTTP_*`` headers and the
    query parameters, for :func:`accounts.authentication.token_from_headers`."""
    meta = {}
    for name, value in scope.get("headers", []):
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        meta[key] = value.decode("latin-1")
    query = QueryDict(scope.get("query_string", b"").decode("latin-1"))
    return meta, query
