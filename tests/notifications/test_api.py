"""The portal API of notifications: endpoints (account read lists, account update changes),
the command's notify (validated, shown back), the delivery log (audit read)."""

import pytest

from accounts.models import AuditEvent
from jobs import lifecycle
from jobs.lifecycle import WorkerIdentity
from jobs.models import Command, Status
from notifications import sender, webhooks
from notifications.models import Delivery, Subscription, WebhookEndpoint

WORKER = WorkerIdentity("w-1", "node-a", "host-a", "10.0.0.1")


def create(actor, name="ops", url="https://hooks.example.org/jobportal", **extra):
    return actor.client.post("/api/v1/webhooks/", {"name": name, "url": url, **extra},
                             format="json")


def submit(actor, notify, **extra):
    return actor.client.post("/api/v1/commands/", {"command_type": "shell", "script": "true",
                                                   "notify": notify, **extra}, format="json")


def end(pk, status=Status.DONE):
    lifecycle.finish(lifecycle.claim(pk, WORKER), status)


# -- endpoints --------------------------------------------------------------------------------


def test_creating_an_endpoint_answers_its_secret_once(admin):
    response = create(admin)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["name"] == "ops" and body["active"] is True
    assert body["created_by"] == "admin@acme.test"
    stored = WebhookEndpoint.objects.get(pk=body["id"])
    assert stored.secret == body["secret"]  # kept as it is: it must sign
    detail = admin.client.get(f"/api/v1/webhooks/{body['id']}/").json()
    listed = admin.client.get("/api/v1/webhooks/").json()["results"]
    assert "secret" not in detail and all("secret" not in e for e in listed)
    assert AuditEvent.objects.filter(action="webhooks.create").count() == 1


def test_rotating_the_secret_answers_a_new_one_and_the_old_stops_signing(admin):
    created = create(admin).json()
    rotated = admin.client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret/").json()
    assert rotated["secret"] != created["secret"]
    assert WebhookEndpoint.objects.get(pk=created["id"]).secret == rotated["secret"]


@pytest.mark.parametrize("field, value, says", [
    ("url", "ftp://hooks.example.org/", "Only http and https"),
    ("url", "http://127.0.0.2:9/", "loopback, private"),  # 127.0.0.1 is open in tests
    ("url", "http://169.254.169.254/latest/", "loopback, private"),
    ("url", "https://user:secret@hooks.example.org/", "No credentials"),
    ("url", 17, "Must be a string"),
    ("name", "12", "not only digits"),
    ("name", "has space", "Letters, digits"),
])
def test_a_bad_endpoint_is_a_400_naming_the_field_and_saves_nothing(admin, field, value, says):
    body = {"name": "ops", "url": "https://hooks.example.org/", field: value}
    response = admin.client.post("/api/v1/webhooks/", body, format="json")
    assert response.status_code == 400
    assert says in str(response.json()["errors"][field])
    assert not WebhookEndpoint.objects.exists()


def test_endpoint_names_are_unique_per_account(admin, outsider):
    assert create(admin).status_code == 201
    again = create(admin)
    assert again.status_code == 400 and "name" in again.json()["errors"]
    assert create(outsider).status_code == 201  # another account may use it


def test_the_portals_own_address_is_refused(admin, settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "PUBLIC_URL": "https://jobs.example.com"}
    response = create(admin, url="https://jobs.example.com/api/v1/commands/")
    assert response.status_code == 400 and "itself" in str(response.json()["errors"]["url"])


ENDPOINT_ACCESS = {
    # list, detail, create, change, rotate, deliveries, delete (the reader's role has no
    # account rights at all)
    "admin": (200, 200, 201, 200, 200, 200, 204),
    "member": (200, 200, 403, 403, 403, 403, 403),
    "reader": (403, 403, 403, 403, 403, 403, 403),
    "outsider": (200, 404, 201, 404, 404, 404, 404),
}


@pytest.mark.parametrize("who", ENDPOINT_ACCESS)
def test_who_may_do_what_with_endpoints(actors, admin, who):
    endpoint = WebhookEndpoint.objects.create(account=admin.account, name="ops",
                                              url="https://hooks.example.org/")
    client, url = actors[who].client, f"/api/v1/webhooks/{endpoint.pk}/"
    answers = (
        client.get("/api/v1/webhooks/").status_code,
        client.get(url).status_code,
        create(actors[who], name=f"mine-{who}").status_code,
        client.patch(url, {"description": "x"}, format="json").status_code,
        client.post(f"{url}rotate-secret/").status_code,
        client.get(f"{url}deliveries/").status_code,
        client.delete(url).status_code,
    )
    assert answers == ENDPOINT_ACCESS[who]
    if who == "outsider":
        listed = client.get("/api/v1/webhooks/").json()["results"]
        assert [e["name"] for e in listed] == [f"mine-{who}"]
        assert WebhookEndpoint.objects.get(pk=endpoint.pk).description == ""


def test_endpoint_list_and_detail_take_one_query(admin, warm_process, django_assert_num_queries):
    for n in range(3):
        create(admin, name=f"e{n}")
    warm_process(admin)
    with django_assert_num_queries(1):
        assert len(admin.client.get("/api/v1/webhooks/").json()["results"]) == 3
    pk = WebhookEndpoint.objects.first().pk
    with django_assert_num_queries(1):
        assert admin.client.get(f"/api/v1/webhooks/{pk}/").status_code == 200


# -- notify on a command ----------------------------------------------------------------------


@pytest.fixture
def ops(admin):
    return WebhookEndpoint.objects.create(account=admin.account, name="ops",
                                          url="https://hooks.example.org/")


def test_notify_is_written_with_the_command_and_shown_in_its_detail(member, admin, ops):
    response = submit(member, {"on": "failure", "webhooks": [ops.pk],
                               "emails": ["Admin@acme.test"]})
    assert response.status_code == 201, response.json()
    shown = {"on": "failure", "webhooks": ["ops"], "emails": ["admin@acme.test"]}
    assert response.json()["notify"] == shown
    pk = response.json()["id"]
    assert member.client.get(f"/api/v1/commands/{pk}/").json()["notify"] == shown
    assert Subscription.objects.filter(command_id=pk).count() == 2


def test_a_command_without_notify_shows_null(member):
    pk = member.client.post("/api/v1/commands/", {"command_type": "shell", "script": "true"},
                            format="json").json()["id"]
    assert member.client.get(f"/api/v1/commands/{pk}/").json()["notify"] is None


def test_the_detail_of_a_notifying_command_takes_one_more_query(
        member, ops, warm_process, django_assert_num_queries):
    pk = submit(member, {"webhooks": ["ops"]}).json()["id"]
    warm_process(member)
    # The row (with whether it notifies anyone), its queue, whom it notifies.
    with django_assert_num_queries(3):
        assert member.client.get(f"/api/v1/commands/{pk}/").json()["notify"]["webhooks"] == [
            "ops"]


@pytest.mark.parametrize("notify, says", [
    ({"webhooks": ["nope"]}, "No webhook endpoint nope"),
    ({"webhooks": [999999]}, "No webhook endpoint 999999"),
    ({"emails": ["stranger@example.org"]}, "Not a member of this account"),
    ({"emails": ["outsider@globex.test"]}, "Not a member of this account"),
    ({"emails": ["not an address"]}, "valid email"),
    ({}, "at least one of webhooks or emails"),
    ({"on": "sometimes", "webhooks": ["ops"]}, "not a valid choice"),
    ({"webhooks": "ops"}, "list"),
    ("ops", "dictionary"),
])
def test_a_bad_notify_is_a_400_naming_notify_and_writes_nothing(member, ops, outsider, notify,
                                                                 says):
    response = submit(member, notify)
    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert list(errors) == ["notify"] and says in str(errors["notify"])
    assert not Command.objects.exists() and not Subscription.objects.exists()


def test_an_inactive_endpoint_or_another_accounts_cannot_be_named(member, ops, outsider):
    theirs = WebhookEndpoint.objects.create(account=outsider.account, name="theirs",
                                            url="https://hooks.example.org/")
    assert submit(member, {"webhooks": [theirs.pk]}).status_code == 400
    assert submit(member, {"webhooks": ["theirs"]}).status_code == 400
    ops.active = False
    ops.save()
    response = submit(member, {"webhooks": ["ops"]})
    assert response.status_code == 400 and "not active" in str(response.json()["errors"])


def test_qubole_can_notify_mails_the_submitter_when_the_command_ends(member, mailoutbox):
    response = member.client.post("/api/v1.2/commands", {
        "command_type": "ShellCommand", "inline": "true", "can_notify": True}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["can_notify"] is True
    end(body["id"])
    sender.send_due()
    [message] = mailoutbox
    assert message.to == ["member@acme.test"] and str(body["id"]) in message.subject


# -- the delivery log -------------------------------------------------------------------------


DELIVERY_ACCESS = {"admin": 200, "member": 403, "reader": 403, "outsider": 404}


@pytest.mark.parametrize("who", DELIVERY_ACCESS)
def test_the_delivery_log_of_a_command_is_for_audit_readers(actors, member, ops, who):
    pk = submit(member, {"webhooks": ["ops"]}).json()["id"]
    end(pk, Status.ERROR)
    response = actors[who].client.get(f"/api/v1/commands/{pk}/notifications/")
    assert response.status_code == DELIVERY_ACCESS[who]
    if who == "admin":
        [delivery] = response.json()["results"]
        assert delivery == {**delivery, "command": pk, "channel": "webhook",
                            "endpoint": ops.pk, "endpoint_name": "ops", "event": "error",
                            "state": "pending", "attempts": 0}


def test_the_delivery_log_shows_attempts_and_answers(admin, member, ops, settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "WEBHOOK_HOSTS": ["nowhere.invalid"]}
    ops.url = "https://nowhere.invalid/"  # refused at send time: given up at once
    ops.save()
    pk = submit(member, {"webhooks": ["ops"]}).json()["id"]
    end(pk)
    sender.send_due()
    [entry] = admin.client.get(f"/api/v1/webhooks/{ops.pk}/deliveries/").json()["results"]
    assert (entry["state"], entry["attempts"]) == ("failed", 1)
    assert entry["last_error"].startswith("Refused") and entry["next_attempt_at"] is None


def test_the_delivery_logs_take_one_query(admin, member, ops, warm_process,
                                          django_assert_num_queries):
    pks = [submit(member, {"webhooks": ["ops"], "emails": ["admin@acme.test"]}).json()["id"]
           for _ in range(2)]
    for pk in pks:
        end(pk)
    warm_process(admin)
    with django_assert_num_queries(2):  # the command, the page
        assert len(admin.client.get(f"/api/v1/commands/{pks[0]}/notifications/")
                   .json()["results"]) == 2
    with django_assert_num_queries(2):  # the endpoint, the page
        assert len(admin.client.get(f"/api/v1/webhooks/{ops.pk}/deliveries/")
                   .json()["results"]) == 2
    assert Delivery.objects.count() == 4
    assert webhooks.SIGNATURE_HEADER == "X-Jobportal-Signature"
