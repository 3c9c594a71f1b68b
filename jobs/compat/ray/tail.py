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
    follower = asyncio.create_task(Follower(command_id, send).run())
    listener = asyncio.create_task(_until_disconnect(receive))
    reason = "client went away"
    try:
        done, _ = await asyncio.wait({follower, listener}, return_when=asyncio.FIRST_COMPLETED)
        failure = follower.exception() if follower in done else None
        if follower in done and not isinstance(failure, OSError):  # OSError: the client left
            reason = "failed" if failure else "ended"
            if failure:
                logger.error("log tail for command %s failed", command_id, exc_info=failure)
            # 1011: the server could not go on; Ray's client then reads the job's status.
            await send({"type": "websocket.close", "code": 1011 if failure else 1000})
    except OSError:
        pass  # the connection broke while closing: nothing more to do
    finally:
        for task in (follower, listener):
            task.cancel()
        slot.release()
        logger.info("log tail for command %s %s", command_id, reason)


async def _until_disconnect(receive):
    """Return when the client closes (it sends nothing else that matters)."""
    while (await receive())["type"] != "websocket.disconnect":
        pass


class Follower:
    """Sends the log of one command from byte 0 until it has ended and all was sent; the
    caller cancels it when the client goes away."""

    def __init__(self, command_id, send):
        self.command_id, self.send = command_id, send
        self.offset = 0
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    async def run(self):
        while True:
            row = await shared_status.row(self.command_id)
            if row is None:  # deleted meanwhile
                return
            ended = statuses.is_terminal(row["status"])
            await self.send_new(row["log_size"], ended)
            if ended and self.offset >= row["log_size"]:
                return
            await asyncio.sleep(POLL_SECONDS)

    async def send_new(self, size, ended):
        while self.offset < size:
            page = await sync_to_async(read_log)(self.command_id, self.offset, LOG_PAGE_BYTES)
            if not page.data:
                return
            self.offset = page.next_offset
            # A character split across pages waits for its end, unless nothing more comes.
            text = self.decoder.decode(page.data, final=ended and self.offset >= size)
            if text:
                await self.send({"type": "websocket.send", "text": text})
