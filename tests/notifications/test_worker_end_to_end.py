"""The sender in a real worker process: a command run by ``manage.py worker`` is announced to
a real local HTTP server, signed; a dead endpoint beside it changes nothing."""

import pytest

from jobs.models import Command
from notifications import webhooks
from notifications.models import Delivery
from tests.jobs.conftest import wait_for

pytestmark = pytest.mark.slow

SENDER_ENV = {"JOBPORTAL_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1",
              "JOBPORTAL_NOTIFY_POLL_SECONDS": "0.2", "JOBPORTAL_NOTIFY_RETRY_SECONDS": "0.2",
              "JOBPORTAL_NOTIFY_TIMEOUT_SECONDS": "1", "JOBPORTAL_NOTIFY_MAX_ATTEMPTS": "2"}


def test_a_worker_process_sends_the_webhook_when_its_command_ends(
        member, start_worker, receiver, dead_url, endpoint_for):
    endpoint = endpoint_for(receiver.url)
    endpoint_for(dead_url, name="dead")
    response = member.client.post("/api/v1/commands/", {
        "command_type": "shell", "script": "exit 3",
        "notify": {"webhooks": ["ops", "dead"]}}, format="json")
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    start_worker(env=SENDER_ENV)

    got = wait_for(lambda: receiver.received, message="the webhook")[0]
    assert webhooks.verify(endpoint.secret, got.headers["X-Jobportal-Signature"], got.body)
    assert got.json["command"] == {**got.json["command"], "id": pk, "status": "error",
                                   "exit_code": 3}
    command = Command.objects.get(pk=pk)
    assert (command.status, command.exit_code) == ("error", 3)
    dead = wait_for(lambda: Delivery.objects.filter(endpoint__name="dead", state="failed")
                    .first(), message="the dead endpoint's delivery to be given up")
    assert dead.attempts == 2 and "ConnectionRefused" in dead.last_error
    assert Delivery.objects.get(endpoint=endpoint).state == "delivered"
