"""The event stream of one command (SSE): its wire format, resume, and the per-account cap.
What happens over a real connection (a client going away) is in tests/test_serve_streams.py."""

from jobs import lifecycle
from jobs.api.events import open_streams
from jobs.models import Status
from tests.jobs.factories import read_stream, submit_shell
from tests.jobs.test_commands_api import running_command, write_log


def events_of(text):
    return [block.splitlines() for block in text.strip().split("\n\n")]


def test_event_stream_sends_status_log_and_end(member):
    command = running_command(member)
    write_log(command, ("stdout", b"line 1\n"))
    lifecycle.finish(command, Status.DONE, exit_code=0)
    response = member.client.get(f"/api/v1/commands/{command.pk}/events/")
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    events = events_of(read_stream(response))
    assert [e[0] for e in events] == ["event: status", "event: log", "event: end"]
    assert '"status": "done"' in events[0][1]
    assert events[1][1] == "id: 7"
    assert events[1][2] == 'data: {"offset": 0, "data": "line 1\\n"}'
    assert events[2] == ["event: end", 'data: {"status": "done"}']


def test_event_stream_resumes_from_last_event_id(member):
    command = running_command(member)
    write_log(command, ("stdout", b"old\n"), ("stdout", b"new\n"))
    lifecycle.finish(command, Status.DONE)
    response = member.client.get(f"/api/v1/commands/{command.pk}/events/",
                                 HTTP_LAST_EVENT_ID="4")
    text = read_stream(response)
    assert '"data": "new\\n"' in text and "old" not in text


def test_every_terminal_status_ends_the_stream(member):
    for status in Status.TERMINAL:
        command = running_command(member)
        lifecycle.finish(command, status)
        text = read_stream(member.client.get(f"/api/v1/commands/{command.pk}/events/"))
        assert events_of(text)[-1] == ["event: end", f'data: {{"status": "{status}"}}']


def test_a_bad_offset_is_400(member):
    command = running_command(member)
    response = member.client.get(f"/api/v1/commands/{command.pk}/events/", {"offset": "x"})
    assert response.status_code == 400


def test_streams_past_the_accounts_cap_are_429_until_one_closes(member, settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "MAX_STREAMS_PER_ACCOUNT": 2}
    command = running_command(member)
    url = f"/api/v1/commands/{command.pk}/events/"
    held = [member.client.get(url), member.client.get(url)]
    assert [r.status_code for r in held] == [200, 200]
    refused = member.client.get(url)
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/too-many-streams")
    lifecycle.finish(command, Status.DONE)
    read_stream(held[0])  # ends, as the command ended
    again = member.client.get(url)
    assert again.status_code == 200
    for response in (held[1], again):
        read_stream(response)
    assert open_streams.count(member.membership.account_id) == 0


def test_a_stream_that_runs_to_its_end_gives_its_slot_back(member):
    command = running_command(member)
    lifecycle.finish(command, Status.DONE)
    read_stream(member.client.get(f"/api/v1/commands/{command.pk}/events/"))
    assert open_streams.count(member.membership.account_id) == 0


def test_the_cap_counts_each_account_apart(member, outsider, settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "MAX_STREAMS_PER_ACCOUNT": 1}
    mine, theirs = running_command(member), running_command(outsider)
    held = member.client.get(f"/api/v1/commands/{mine.pk}/events/")
    other = outsider.client.get(f"/api/v1/commands/{theirs.pk}/events/")
    assert (held.status_code, other.status_code) == (200, 200)
    for command in (mine, theirs):
        lifecycle.finish(command, Status.DONE)
    read_stream(held)
    read_stream(other)


def test_streams_of_one_command_share_its_status_reads(member, django_assert_num_queries):
    from asgiref.sync import async_to_sync

    from jobs.api.events import SharedStatus

    command = submit_shell(member)
    status = SharedStatus(max_age=60)
    with django_assert_num_queries(1):
        rows = [async_to_sync(status.row)(command.pk) for _ in range(200)]
    assert {row["status"] for row in rows} == {"queued"}
    fresh = SharedStatus(max_age=0)
    with django_assert_num_queries(2):
        async_to_sync(fresh.row)(command.pk)
        async_to_sync(fresh.row)(command.pk)
