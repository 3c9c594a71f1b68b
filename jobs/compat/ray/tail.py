"""``GET /api/jobs/{id}/logs/tail``: a WebSocket that sends the job's log from its start as text
messages while the job runs, and closes normally (1000) once the job has ended and every byte
was sent, which is how Ray's ``tail_job_logs`` knows it is over.

It runs on the event loop and holds no thread: status reads are shared with the event streams
(:data:`jobs.api.events.shared_status`, one read per command per interval whatever the number
of followers) and it counts against the same per-account cap of open streams
(``JOBPORTAL_MAX_STREAMS_PER_ACCOUNT``, 429 past it). Reads hop to a thread for the query
only. Unlike the portal's SSE it has no time limit: Ray's client does not reconnect.
"""

import asyncio
import codecs
import contextlib
import logging

from asgiref.sync import sync_to_async
from django.conf import settings

from accounts import access
from accounts.authentication import token_from_headers
from jobportal.websockets import deny, request_meta
from jobs import reads, statuses
from jobs.api.events import LOG_PAGE_BYTES, POLL_SECONDS, open_streams, shared_status
from jobs.logs import read_log
from jobs.models import CommandType

logger = logging.getLogger(__name__)


def _job_for(scope, ref):
    """``(refusal, account id, command id)`` of the job the handshake asks to follow;
    ``refusal`` is ``(status, text)`` or None."""
    raw = token_from_headers(*request_meta(scope))
    token = access.authenticate(raw) if raw else None
    if token is None:
        return (401, "Invalid, expired or revoked API token."), None, None
    token.touch()
    member = token.membership
    command = reads.visible_command_by_ref(member, ref)
    if command is None or command.command_type != CommandType.SHELL:
        return (404, f"Job {ref} does not exist"), None, None
    return None, member.account_id, command.pk


async def tail_logs(scope, receive, send, ref):
    """The ASGI app of one tail."""
    if (await receive())["type"] != "websocket.connect":
        return
    refusal, account_id, command_id = await sync_to_async(_job_for)(scope, ref)
    if refusal is not None:
        return await deny(scope, send, *refusal)
    slot = open_streams.open(account_id, settings.JOBPORTAL["MAX_STREAMS_PER_ACCOUNT"])
    if slot is None:
        return await deny(scope, send, 429, "This account has too many open log streams; "
                          "close one and retry.")
    await send({"type": "websocket.accept"})
    gone = asyncio.Event()
    listener = asyncio.create_task(_listen(receive, gone))
    reason = "client went away"
    try:
        if await Follower(command_id, send, gone).run():
            reason = "ended"
            await send({"type": "websocket.close", "code": 1000})
    except OSError:
        pass  # the connection broke while sending: nothing more to do
    finally:
        slot.release()
        listener.cancel()
        logger.info("log tail for command %s %s", command_id, reason)


async def _listen(receive, gone):
    """Watch for the client's close (the client sends nothing else that matters)."""
    while (await receive())["type"] != "websocket.disconnect":
        pass
    gone.set()


class Follower:
    """Sends the log of one command from byte 0 until it has ended and all was sent."""

    def __init__(self, command_id, send, gone):
        self.command_id, self.send, self.gone = command_id, send, gone
        self.offset = 0
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    async def run(self):
        """True when the job ended and its whole log was sent; False if the client left."""
        while not self.gone.is_set():
            row = await shared_status.row(self.command_id)
            if row is None:  # deleted meanwhile
                return True
            ended = statuses.is_terminal(row["status"])
            await self.send_new(row["log_size"], ended)
            if ended and self.offset >= row["log_size"]:
                return True
            with contextlib.suppress(TimeoutError):  # the interval passed, the client is there
                await asyncio.wait_for(self.gone.wait(), POLL_SECONDS)
        return False

    async def send_new(self, size, ended):
        while self.offset < size and not self.gone.is_set():
            page = await sync_to_async(read_log)(self.command_id, self.offset, LOG_PAGE_BYTES)
            if not page.data:
                return
            self.offset = page.next_offset
            # A character split across pages waits for its end, unless nothing more comes.
            text = self.decoder.decode(page.data, final=ended and self.offset >= size)
            if text:
                await self.send({"type": "websocket.send", "text": text})
