"""The WebSocket log tail as an ASGI app, in process: refusals before the handshake, the whole
log in order, characters split across pages, a normal close once the job has ended."""

import asyncio

import pytest
from asgiref.sync import async_to_sync

from jobportal.websockets import dispatch
from jobs import lifecycle
from jobs.api.events import LOG_PAGE_BYTES, open_streams
from jobs.logs import LogWriter
from jobs.models import Command, Status
from tests.jobs.factories import submit_shell

EXTENSIONS = {"websocket.http.response": {}}


def scope_for(path, token=None, query=b"", extensions=EXTENSIONS):
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    return {"type": "websocket", "path": path, "headers": headers, "query_string": query,
            "extensions": extensions}


def converse(scope):
    """Run the app for one connection whose client stays until the server closes; what the
    server sent."""
    sent = []

    async def run():
        inbox = asyncio.Queue()
        inbox.put_nowait({"type": "websocket.connect"})

        async def send(message):
            sent.append(message)
            if message["type"] in ("websocket.close", "websocket.http.response.body"):
                inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})

        await asyncio.wait_for(dispatch(scope, inbox.get, send), 30)

    async_to_sync(run)()
    return sent


def finish(command, **outcome):
    lifecycle.claim(command.pk, lifecycle.WorkerIdentity("w-1", "n", "h", None))
    assert lifecycle.finish(Command.objects.get(pk=command.pk), Status.DONE, **outcome)


def write_log(command, data):
    log = LogWriter(command.pk, 10**9)
    log.append("stdout", data)
    log.flush()
    return log.size


def test_the_whole_log_arrives_in_order_and_the_tail_closes_normally(member):
    command = submit_shell(member)
    data = ("a" * (LOG_PAGE_BYTES - 1) + "é" + "b" * 10 + "\n").encode()  # é spans two pages
    finish(command, log_size=write_log(command, data), exit_code=0)
    sent = converse(scope_for(f"/api/jobs/{command.submission_id}/logs/tail", member.token))
    assert sent[0] == {"type": "websocket.accept"}
    assert sent[-1] == {"type": "websocket.close", "code": 1000}
    texts = [message["text"] for message in sent[1:-1]]
    assert len(texts) == 2 and "".join(texts) == data.decode()
    assert open_streams.count(member.account.pk) == 0  # its slot was given back


def refusal(sent):
    start, body = sent
    assert start["type"] == "websocket.http.response.start"
    return start["status"], body["body"].decode()


@pytest.mark.parametrize("token", [None, "jp_wrong"])
def test_no_or_a_bad_token_is_a_401_before_the_handshake(db, token):
    status, _ = refusal(converse(scope_for("/api/jobs/1/logs/tail", token)))
    assert status == 401


def test_unknown_and_other_accounts_jobs_are_404(member, outsider):
    theirs = submit_shell(outsider)
    for ref in ("nope", str(theirs.pk), theirs.submission_id, "x" * 500, "a\x00b"):
        assert refusal(converse(scope_for(f"/api/jobs/{ref}/logs/tail", member.token))) == (
            404, f"Job {ref} does not exist")


def test_the_api_key_query_parameter_authenticates_too(member):
    command = submit_shell(member)
    finish(command, exit_code=0)
    sent = converse(scope_for(f"/api/jobs/{command.pk}/logs/tail",
                              query=f"api_key={member.token}".encode()))
    assert sent == [{"type": "websocket.accept"}, {"type": "websocket.close", "code": 1000}]


def test_past_the_accounts_cap_a_tail_is_429(member, settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "MAX_STREAMS_PER_ACCOUNT": 1}
    command = submit_shell(member)
    held = open_streams.open(member.account.pk, 1)
    try:
        status, text = refusal(converse(scope_for(f"/api/jobs/{command.pk}/logs/tail",
                                                  member.token)))
    finally:
        held.release()
    assert status == 429 and "too many open log streams" in text


def test_other_websocket_paths_are_404_and_servers_without_http_answers_get_a_close(member):
    assert refusal(converse(scope_for("/api/other", member.token)))[0] == 404
    assert converse(scope_for("/api/other", member.token, extensions={})) == [
        {"type": "websocket.close", "code": 1008}]
