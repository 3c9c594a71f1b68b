"""Signing and sending one webhook request (no database here: the sender thread calls this
from its pool while the database work stays on its own thread).

The signature is HMAC-SHA256 with the endpoint's secret over ``"<timestamp>.<body>"``, sent
as ``X-Jobportal-Signature: t=<timestamp>,v1=<hex digest>``; the timestamp is in the
signature so a captured request cannot be replayed later (receivers reject old ones).
"""

import hashlib
import hmac
import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from notifications import targets

SIGNATURE_HEADER = "X-Jobportal-Signature"
USER_AGENT = "Jobportal-Webhooks/1"
# A response body is read only this far: it is logged, not trusted or stored whole.
MAX_RESPONSE_BYTES = 2048


def signature(secret, timestamp, body):
    """The ``v1`` value for ``body`` (bytes) sent at ``timestamp`` (whole seconds)."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret, body, timestamp=None):
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(secret, header, body, tolerance=300, now=None):
    """True if ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds: what a
    receiver does (docs/notifications.md shows the same in a few lines)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), fields.get("v1", ""))


@dataclass(frozen=True)
class Outcome:
    """How an attempt went: ``ok`` (2xx), or whether trying again may help."""

    ok: bool
    retry: bool
    status: int | None = None
    error: str = ""


def outcome_of_status(status, excerpt):
    if 200 <= status < 300:
        return Outcome(True, False, status)
    # Timeouts, rate limits and server errors pass; another 4xx or a redirect is the
    # receiver's answer to this request, and the same request will get it again.
    retry = status >= 500 or status in (408, 429)
    return Outcome(False, retry, status, f"HTTP {status}: {excerpt}".strip())


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address :func:`targets.resolve` checked, not to a fresh lookup."""

    def __init__(self, host, port, address, **kwargs):
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, address, **kwargs):
        super().__init__(host, port, context=ssl.create_default_context(), **kwargs)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url, body, headers, timeout):
    """POST ``body`` (JSON bytes) to ``url`` with ``headers``; never raises for the far end's
    failures (refused, timed out, TLS, bad answers): they are the :class:`Outcome`."""
    try:
        scheme, host, port, path, address = targets.resolve(url)
    except targets.UnsafeTarget as exc:
        return Outcome(False, False, None, f"Refused: {exc}")
    kind = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = kind(host, port, address, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})
        response = connection.getresponse()
        excerpt = response.read(MAX_RESPONSE_BYTES).decode("utf-8", "replace")
        return outcome_of_status(response.status, excerpt[:500])
    except TimeoutError:
        return Outcome(False, True, None, f"No answer within {timeout:g} s.")
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(False, True, None, f"{type(exc).__name__}: {exc}"[:500])
    finally:
        connection.close()
