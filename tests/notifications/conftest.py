"""A real HTTP server on 127.0.0.1 (a thread with http.server) that records what it receives
and answers as a test scripts it; settings that let webhooks reach it."""

import contextlib
import http.server
import json
import socket
import threading
import time
from dataclasses import dataclass, field

import pytest

from notifications.models import WebhookEndpoint
from tests.jobs.conftest import start_worker, worker_env  # noqa: F401 (worker fixtures)


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    """What the server got, and what it answers next (``answers``: status codes, or
    ``("slow", seconds)``; the last one repeats)."""

    port: int
    answers: list = field(default_factory=lambda: [200])
    received: list = field(default_factory=list)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def next_answer(self):
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def _handler(receiver):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.received.append(Received(self.path, dict(self.headers), body))
            answer = receiver.next_answer()
            if isinstance(answer, tuple):
                time.sleep(answer[1])
                answer = 200
            self.send_response(answer)
            self.send_header("Content-Length", "2")
            self.end_headers()
            with contextlib.suppress(BrokenPipeError):  # a client that timed out
                self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def receiver():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), None)
    got = Receiver(server.server_address[1])
    server.RequestHandlerClass = _handler(got)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield got
    server.shutdown()
    server.server_close()


@pytest.fixture
def dead_url():
    """A local port with nothing listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture(autouse=True)
def local_webhooks(settings):
    """Webhooks may reach 127.0.0.1 (refused by default), retries are due at once, and an
    attempt waits one second at most."""
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "WEBHOOK_ALLOWED_NETWORKS": ["127.0.0.1"],
                              "RETRY_SECONDS": 0, "TIMEOUT_SECONDS": 1, "MAX_ATTEMPTS": 3}


@pytest.fixture
def endpoint_for(account, admin):
    def make(url, name="ops", **fields):
        return WebhookEndpoint.objects.create(account=account, name=name, url=url,
                                              created_by=admin.user, **fields)

    return make
