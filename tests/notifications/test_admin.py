"""The delivery log and webhook endpoints in the Django admin: listed, searchable, read-only,
secrets never rendered."""

import pytest

from accounts.models import User
from jobs import lifecycle, submission
from jobs.lifecycle import WorkerIdentity
from jobs.models import Status
from notifications.models import Delivery, WebhookEndpoint

DELIVERIES = "/admin/notifications/delivery/"


@pytest.fixture
def operator(db, client):
    user = User.objects.create_superuser("ops@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def delivered(member, admin):
    endpoint = WebhookEndpoint.objects.create(account=member.account, name="ops",
                                              url="https://hooks.example.org/")
    command, _ = submission.submit(member.membership, {
        "command_type": "shell", "script": "true",
        "notify": {"webhooks": ["ops"], "emails": ["admin@acme.test"]}})
    running = lifecycle.claim(command.pk, WorkerIdentity("w", "n", "h", None))
    lifecycle.finish(running, Status.ERROR)
    Delivery.objects.filter(channel="webhook").update(
        state="failed", attempts=8, response_code=503, last_error="HTTP 503: busy")
    return endpoint, command


def test_the_delivery_log_lists_state_attempts_and_the_last_answer(operator, delivered,
                                                                   django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        page = operator.get(DELIVERIES).content.decode()
    assert "HTTP 503: busy" in page and "admin@acme.test" in page and "failed" in page
    failed = operator.get(DELIVERIES, {"state__exact": "failed"}).content.decode()
    assert "admin@acme.test" not in failed
    _, command = delivered
    found = operator.get(DELIVERIES, {"q": str(command.pk)}).content.decode()
    assert "HTTP 503: busy" in found
    assert operator.get(DELIVERIES, {"q": "not-a-number"}).status_code == 200


def test_deliveries_cannot_be_added_or_changed(operator, delivered):
    delivery = Delivery.objects.first()
    assert operator.get(f"{DELIVERIES}add/").status_code == 403
    page = operator.get(f"{DELIVERIES}{delivery.pk}/change/")
    assert page.status_code == 200 and 'name="state"' not in page.content.decode()


def test_the_endpoint_page_never_renders_the_secret(operator, delivered):
    endpoint, _ = delivered
    page = operator.get(f"/admin/notifications/webhookendpoint/{endpoint.pk}/change/")
    assert page.status_code == 200 and endpoint.secret not in page.content.decode()
