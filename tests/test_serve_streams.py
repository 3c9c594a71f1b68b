"""Event streams over a real connection to `serve` (uvicorn): a stream ends as soon as its
client goes away, and the per-account cap counts only the streams that are really open."""

import httpx
import pytest

from tests.live import Site, poll, stop

pytestmark = pytest.mark.slow


def open_stream(site, client, pk):
    """An open event stream of command ``pk`` that has sent its first event, and its lines
    (dropping the line iterator would close the stream)."""
    request = client.build_request("GET", f"{site.url}/api/v1/commands/{pk}/events/",
                                   headers=site.headers)
    response = client.send(request, stream=True)
    lines = response.iter_lines()
    if response.status_code == 200:
        assert next(lines) == "event: status"
    return response, lines


def test_a_stream_ends_when_its_client_goes_away(tmp_path):
    site = Site(tmp_path, JOBPORTAL_MAX_STREAMS_PER_ACCOUNT="1", JOBPORTAL_LOG_LEVEL="INFO")
    serve = site.serve("--no-worker")  # no worker: the command stays queued, its stream open
    try:
        pk = site.submit("echo never runs")
        with httpx.Client(timeout=30) as client:
            first, _lines = open_stream(site, client, pk)
            assert first.status_code == 200
            refused, _ = open_stream(site, client, pk)
            assert refused.status_code == 429
            assert refused.headers["content-type"] == "application/problem+json"
            refused.close()
            assert "client went away" not in site.log()
            first.close()
        gone = f"event stream for command {pk} client went away after"
        poll(lambda: gone in site.log())
        with httpx.Client(timeout=30) as client:
            again, _lines = open_stream(site, client, pk)
            assert again.status_code == 200  # the slot of the closed stream was given back
            again.close()
        poll(lambda: site.log().count(gone) == 2)
    finally:
        assert stop(serve) == 0


def test_a_stream_of_a_command_that_ends_sends_end_and_closes(tmp_path):
    site = Site(tmp_path)
    serve = site.serve("--concurrency", "1")
    try:
        pk = site.submit("echo hello")
        with httpx.Client(timeout=90) as client, client.stream(
                "GET", f"{site.url}/api/v1/commands/{pk}/events/",
                headers=site.headers) as response:
            text = "".join(response.iter_text())
        assert text.rstrip().endswith('event: end\ndata: {"status": "done"}')
        assert '"data": "hello\\n"' in text
    finally:
        assert stop(serve) == 0
