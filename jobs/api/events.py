"""Server-sent events for one command: status/progress changes and new log bytes.

The stream is an async generator: under the ASGI server it waits on the event loop and holds
no thread; its database reads hop to a thread only for the read itself. It ends when the
command ends, after ``MAX_STREAM_SECONDS`` (clients reconnect with ``Last-Event-ID``, which
EventSource does by itself), or as soon as its client goes away.
"""

import asyncio
import json
import logging
import threading
import time
from collections import Counter
from contextlib import aclosing

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import StreamingHttpResponse
from rest_framework import exceptions
from rest_framework.renderers import BaseRenderer

from jobs import statuses
from jobs.logs import read_log
from jobs.models import Command

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5
MAX_STREAM_SECONDS = 60
LOG_PAGE_BYTES = 65536
STATUS_FIELDS = ("status", "throttled", "progress", "steps_ready", "steps_total", "exit_code",
                 "error_type", "error_message", "log_size")


class EventStreamRenderer(BaseRenderer):
    media_type = "text/event-stream"
    format = "event-stream"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


class TooManyStreams(exceptions.APIException):
    status_code = 429
    default_detail = "This account has too many open event streams; close one and retry."
    default_code = "too_many_streams"


class OpenStreams:
    """Event streams open in this web process, by account (the cap is per process)."""

    def __init__(self):
        self._by_account = Counter()
        self._lock = threading.Lock()

    def open(self, account_id, limit):
        """A :class:`Slot` for one more stream of the account, or None past ``limit``."""
        with self._lock:
            if self._by_account[account_id] >= limit:
                return None
            self._by_account[account_id] += 1
        return Slot(self, account_id)

    def count(self, account_id):
        with self._lock:
            return self._by_account[account_id]

    def _close(self, account_id):
        with self._lock:
            self._by_account[account_id] -= 1
            if self._by_account[account_id] <= 0:
                del self._by_account[account_id]


class Slot:
    """One open stream; ``release`` is idempotent."""

    def __init__(self, streams, account_id):
        self._streams, self.account_id, self._open = streams, account_id, True

    def release(self):
        if self._open:
            self._open = False
            self._streams._close(self.account_id)


open_streams = OpenStreams()


class SharedStatus:
    """Streams of one command in this process share its status reads: a row read less than
    ``max_age`` seconds ago serves every stream that polls meanwhile, so 200 streams of a
    command cost a few reads a second, not 400. (No lock: two streams racing past an old
    entry both read, which is harmless.)"""

    def __init__(self, max_age=POLL_SECONDS / 2):
        self.max_age = max_age
        self._rows = {}  # command id -> (monotonic time of the read, row)

    async def row(self, command_id):
        now = time.monotonic()
        hit = self._rows.get(command_id)
        if hit is not None and now - hit[0] < self.max_age:
            return hit[1]
        row = await Command.objects.filter(pk=command_id).values(*STATUS_FIELDS).afirst()
        if len(self._rows) > 10_000:  # commands nobody follows any more
            self._rows = {pk: v for pk, v in self._rows.items() if now - v[0] < 60}
        self._rows[command_id] = (time.monotonic(), row)
        return row

    def clear(self):
        self._rows = {}


shared_status = SharedStatus()


def _event(name, data, event_id=None):
    lines = [f"event: {name}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {json.dumps(data)}")
    return ("\n".join(lines) + "\n\n").encode()


class EventStream:
    """The events of one command from log byte ``offset`` on, holding ``slot`` while open.

    Django calls ``close`` when the response is closed, so the slot is given back even when
    the stream was never iterated.
    """

    def __init__(self, command_id, offset, slot):
        self.command_id, self.offset, self.slot = command_id, offset, slot
        self.polls = 0

    def __aiter__(self):
        return self._events()

    def close(self):
        self.slot.release()

    async def _events(self):
        reason = "client went away"
        try:
            async with aclosing(self._poll()) as events:
                async for chunk in events:
                    yield chunk
            reason = "ended"
        except Exception:
            reason = "failed"
            logger.exception("event stream for command %s failed", self.command_id)
            raise
        finally:
            # Reached on a disconnect too: Django cancels the stream at its pending await.
            self.slot.release()
            logger.info("event stream for command %s %s after %d polls", self.command_id,
                        reason, self.polls)

    async def _poll(self):
        last_status = None
        deadline = time.monotonic() + MAX_STREAM_SECONDS
        while True:
            row = await shared_status.row(self.command_id)
            self.polls += 1
            if row is None:
                return
            if row != last_status:
                yield _event("status", row)
                last_status = row
            while self.offset < row["log_size"]:
                page = await sync_to_async(read_log)(self.command_id, self.offset,
                                                     LOG_PAGE_BYTES)
                if not page.data:
                    break
                self.offset = page.next_offset
                yield _event("log", {"offset": page.offset, "data":
                                     page.data.decode("utf-8", errors="replace")}, self.offset)
            if statuses.is_terminal(row["status"]) or time.monotonic() > deadline:
                yield _event("end", {"status": row["status"]})
                return
            await asyncio.sleep(POLL_SECONDS)


def event_stream(account_id, command_id, offset):
    """The SSE response for a command the caller may read; 429 past the account's cap."""
    slot = open_streams.open(account_id, settings.JOBPORTAL["MAX_STREAMS_PER_ACCOUNT"])
    if slot is None:
        raise TooManyStreams()
    response = StreamingHttpResponse(EventStream(command_id, offset, slot),
                                     content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
