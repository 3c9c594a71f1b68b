"""Server-sent events for one command: status/progress changes and new log bytes."""

import json
import time

from django.http import StreamingHttpResponse
from rest_framework.renderers import BaseRenderer

from jobs.logs import read_log
from jobs.models import Command

POLL_SECONDS = 0.5
# Each open stream holds a web thread: streams end after a minute and clients reconnect with
# Last-Event-ID (EventSource does so by itself), so slow readers cannot pin the threads.
MAX_STREAM_SECONDS = 60
STATUS_FIELDS = ("status", "throttled", "progress", "steps_ready", "steps_total", "exit_code",
                 "error_type", "error_message", "log_size")


class EventStreamRenderer(BaseRenderer):
    media_type = "text/event-stream"
    format = "event-stream"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


def _event(name, data, event_id=None):
    lines = [f"event: {name}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {json.dumps(data)}")
    return ("\n".join(lines) + "\n\n").encode()


def _events(command_id, offset):
    last_status = None
    deadline = time.monotonic() + MAX_STREAM_SECONDS
    while True:
        row = Command.objects.filter(pk=command_id).values(*STATUS_FIELDS).first()
        if row is None:
            return
        if row != last_status:
            yield _event("status", row)
            last_status = row
        while offset < row["log_size"]:
            page = read_log(command_id, offset, 65536)
            if not page.data:
                break
            offset = page.next_offset
            yield _event("log", {"offset": page.offset, "data":
                                 page.data.decode("utf-8", errors="replace")}, offset)
        if row["status"] in ("done", "error", "cancelled") or time.monotonic() > deadline:
            yield _event("end", {"status": row["status"]})
            return
        time.sleep(POLL_SECONDS)


def event_stream(command_id, offset):
    response = StreamingHttpResponse(_events(command_id, offset),
                                     content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
