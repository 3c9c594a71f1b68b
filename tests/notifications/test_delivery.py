"""Deliveries: recorded with the command's end, sent to a real local HTTP server, signed,
retried, given up; the command never waits for or fails because of them."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from jobs import lifecycle, submission
from jobs.lifecycle import WorkerIdentity
from jobs.models import Command, Status
from notifications import sender, webhooks
from notifications.models import Delivery, DeliveryState, Subscription

WORKER = WorkerIdentity("w-1", "node-a", "host-a", "10.0.0.1")


def submit(actor, notify, script="true"):
    command, _ = submission.submit(actor.membership, {
        "command_type": "shell", "script": script, "notify": notify})
    return command


def run_to_end(command, status=Status.DONE, **outcome):
    running = lifecycle.claim(command.pk, WORKER)
    assert lifecycle.finish(running, status, **outcome)
    return Command.objects.get(pk=command.pk)


def delivery_of(command):
    return Delivery.objects.get(command=command)


def test_a_webhook_is_delivered_to_a_real_server_with_a_valid_signature(
        member, receiver, endpoint_for):
    endpoint = endpoint_for(receiver.url)
    command = run_to_end(submit(member, {"webhooks": ["ops"]}), exit_code=0)
    assert delivery_of(command).state == DeliveryState.PENDING  # written with the end

    assert sender.send_due() == 1

    [got] = receiver.received
    assert got.path == "/hook"
    assert webhooks.verify(endpoint.secret, got.headers["X-Jobportal-Signature"], got.body)
    assert not webhooks.verify("whsec_other", got.headers["X-Jobportal-Signature"], got.body)
    assert got.headers["X-Jobportal-Event"] == "command.ended"
    body = got.json
    assert body["event"] == "command.ended" and body["account"] == "acme"
    assert body["command"]["id"] == command.pk
    assert body["command"]["submission_id"] == command.submission_id
    assert body["command"]["status"] == "done" and body["command"]["exit_code"] == 0
    assert body["command"]["finished_at"].endswith("Z")
    assert got.headers["X-Jobportal-Delivery"] == str(body["delivery_id"])
    delivery = delivery_of(command)
    assert (delivery.state, delivery.attempts, delivery.response_code) == ("delivered", 1, 200)
    assert sender.send_due() == 0  # delivered once, not again


def test_a_500_is_retried_and_the_next_attempt_succeeds(member, receiver, endpoint_for):
    endpoint_for(receiver.url)
    receiver.answers = [500, 200]
    command = run_to_end(submit(member, {"webhooks": ["ops"]}))

    sender.send_due()
    delivery = delivery_of(command)
    assert (delivery.state, delivery.attempts, delivery.response_code) == ("pending", 1, 500)
    assert delivery.last_error.startswith("HTTP 500")
    sender.send_due()
    delivery = delivery_of(command)
    assert (delivery.state, delivery.attempts, delivery.response_code) == ("delivered", 2, 200)
    assert len(receiver.received) == 2
    # The same event each time, signed afresh.
    assert receiver.received[0].json["delivery_id"] == receiver.received[1].json["delivery_id"]


def test_a_delivery_is_given_up_after_the_most_attempts(member, receiver, endpoint_for):
    endpoint_for(receiver.url)
    receiver.answers = [503]
    command = run_to_end(submit(member, {"webhooks": ["ops"]}), Status.ERROR, exit_code=1)
    for _ in range(5):
        sender.send_due()
    delivery = delivery_of(command)
    assert (delivery.state, delivery.attempts, delivery.response_code) == ("failed", 3, 503)
    assert delivery.next_attempt_at is None
    assert len(receiver.received) == 3  # MAX_ATTEMPTS in this test


def test_retries_wait_longer_each_time(settings, member, receiver, endpoint_for):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "RETRY_SECONDS": 10,
                              "RETRY_MAX_SECONDS": 25}
    assert [sender.backoff(n) for n in (1, 2, 3, 4)] == [10, 20, 25, 25]
    endpoint_for(receiver.url)
    receiver.answers = [500]
    command = run_to_end(submit(member, {"webhooks": ["ops"]}))
    sender.send_due()
    delivery = delivery_of(command)
    assert delivery.next_attempt_at - delivery.last_attempt_at >= timedelta(seconds=10)
    assert sender.send_due() == 0  # not due yet


def test_a_client_error_is_not_retried(member, receiver, endpoint_for):
    endpoint_for(receiver.url)
    receiver.answers = [410]
    command = run_to_end(submit(member, {"webhooks": ["ops"]}))
    sender.send_due()
    assert (delivery_of(command).state, delivery_of(command).attempts) == ("failed", 1)


def test_a_dead_endpoint_leaves_the_command_as_it_ended(member, dead_url, endpoint_for):
    endpoint_for(dead_url)
    command = run_to_end(submit(member, {"webhooks": ["ops"]}), exit_code=0)
    sender.send_due()
    command.refresh_from_db()
    assert (command.status, command.exit_code, command.error_type) == ("done", 0, "")
    delivery = delivery_of(command)
    assert delivery.state == "pending" and "ConnectionRefused" in delivery.last_error


def test_a_stored_url_the_http_client_cannot_send_fails_that_delivery_only(
        member, receiver, endpoint_for):
    # Saved before the URL rule existed (or by hand): http.client would raise on it (an error
    # that used to end the sender thread); the rule is checked again when sending.
    endpoint_for(f"{receiver.url}/caf\u00e9", name="broken")
    endpoint_for(receiver.url, name="ops")
    command = run_to_end(submit(member, {"webhooks": ["broken", "ops"]}))
    with ThreadPoolExecutor(2) as pool:  # as the sender thread sends them
        assert sender.send_due(pool) == 2
    broken, fine = Delivery.objects.filter(command=command).order_by("endpoint__name")
    assert (broken.state, fine.state) == ("failed", "delivered")
    assert broken.last_error.startswith("Refused: Only printable ASCII")
    assert len(receiver.received) == 1


def test_a_slow_endpoint_times_out_without_holding_up_another(member, receiver, endpoint_for):
    endpoint_for(receiver.url, name="slow")
    receiver.answers = [("slow", 2)]  # twice TIMEOUT_SECONDS
    fast = []

    def fast_server():
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                fast.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    server = fast_server()
    try:
        endpoint_for(f"http://127.0.0.1:{server.server_address[1]}/", name="fast")
        command = run_to_end(submit(member, {"webhooks": ["slow", "fast"]}))
        with ThreadPoolExecutor(max_workers=2) as pool:
            assert sender.send_due(pool) == 2
    finally:
        server.shutdown()
        server.server_close()
    command.refresh_from_db()
    assert command.status == "done"
    states = dict(Delivery.objects.filter(command=command).values_list("endpoint__name", "state"))
    assert states == {"slow": "pending", "fast": "delivered"}
    slow = Delivery.objects.get(command=command, endpoint__name="slow")
    assert slow.last_error.startswith("No answer within")
    assert len(fast) == 1


def test_failure_only_hears_of_errors(member, receiver, endpoint_for):
    endpoint_for(receiver.url)
    done = run_to_end(submit(member, {"on": "failure", "webhooks": ["ops"]}))
    cancelled = lifecycle.cancel(submit(member, {"on": "failure", "webhooks": ["ops"]}))
    failed = run_to_end(submit(member, {"on": "failure", "webhooks": ["ops"]}), Status.ERROR)
    assert list(Delivery.objects.values_list("command_id", "event")) == [(failed.pk, "error")]
    assert done.status == "done" and cancelled.status == "cancelled"


def test_a_cancel_of_a_waiting_command_notifies(member, receiver, endpoint_for):
    endpoint_for(receiver.url)
    waiting = [submit(member, {"webhooks": ["ops"]}) for _ in range(3)][-1]
    assert waiting.status == "waiting"  # the account runs two at once
    lifecycle.cancel(waiting)
    sender.send_due()
    [got] = receiver.received
    assert got.json["command"] == {**got.json["command"], "id": waiting.pk,
                                   "status": "cancelled", "started_at": None}


def test_a_command_reaped_as_worker_lost_notifies(member, receiver, endpoint_for):
    endpoint_for(receiver.url)
    command = submit(member, {"webhooks": ["ops"]})
    lifecycle.claim(command.pk, WORKER)
    later = timezone.now() + timedelta(hours=1)
    reaped, _ = lifecycle.reap(now=later)
    assert reaped == [command.pk]
    sender.send_due(now=later)
    [got] = receiver.received
    assert got.json["command"]["status"] == "error"
    assert got.json["command"]["error_type"] == "WorkerLost"


def test_an_endpoint_switched_off_after_the_submission_gets_nothing(member, receiver,
                                                                     endpoint_for):
    endpoint = endpoint_for(receiver.url)
    command = submit(member, {"webhooks": ["ops"]})
    endpoint.active = False
    endpoint.save()
    run_to_end(command)
    assert not Delivery.objects.exists()


def test_a_sender_that_died_mid_attempt_leaves_the_delivery_to_be_taken_again(
        member, receiver, endpoint_for):
    endpoint_for(receiver.url)
    command = run_to_end(submit(member, {"webhooks": ["ops"]}))
    [taken] = sender.claim()  # ... and the sender's process dies here
    assert sender.claim() == []  # leased
    later = timezone.now() + timedelta(seconds=sender.lease_seconds() + 1)
    [again] = sender.claim(now=later)
    assert (again.pk, again.attempts) == (taken.pk, 2)
    # The first sender's late answer does not overwrite the second one's attempt.
    assert sender.record(taken, webhooks.Outcome(True, False, 200)) is None
    assert sender.record(again, webhooks.Outcome(True, False, 200)) == "delivered"
    assert delivery_of(command).attempts == 2


def test_email_goes_to_members_through_django_mail(member, admin):
    command = run_to_end(submit(member, {"emails": ["Admin@acme.test"]}), Status.ERROR,
                         error_type="Timeout", error_message="Killed after 5 s.")
    sender.send_due()
    [message] = mail.outbox
    assert message.to == ["admin@acme.test"]
    assert f"command {command.pk}" in message.subject and "error" in message.subject
    assert "Timeout Killed after 5 s." in message.body
    assert delivery_of(command).state == "delivered"


def test_without_mail_configured_the_email_delivery_fails_at_once(settings, member, admin):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                                    "OPTIONS": {"host": ""}}}
    command = run_to_end(submit(member, {"emails": ["admin@acme.test"]}))
    sender.send_due()
    delivery = delivery_of(command)
    assert delivery.state == "failed" and "not configured" in delivery.last_error
    assert mail.outbox == []


def test_a_rerun_notifies_as_the_original_did(member, receiver, endpoint_for):
    endpoint_for(receiver.url)
    original = run_to_end(submit(member, {"on": "failure", "webhooks": ["ops"],
                                          "emails": ["member@acme.test"]}))
    again, _ = submission.rerun(member.membership, original)
    assert sorted(Subscription.objects.filter(command=again).values_list("channel", "on")) == [
        ("email", "failure"), ("webhook", "failure")]


@pytest.mark.parametrize("with_notify, queries", [(False, 8), (True, 9)])
def test_finish_records_deliveries_in_one_statement_and_none_without_notify(
        member, receiver, endpoint_for, django_assert_num_queries, with_notify, queries):
    endpoint_for(receiver.url)
    notify = {"webhooks": ["ops"], "emails": ["member@acme.test"]} if with_notify else None
    command = (submit(member, notify) if notify else
               submission.submit(member.membership, {"command_type": "shell",
                                                     "script": "true"})[0])
    running = lifecycle.claim(command.pk, WORKER)
    submission.submit(member.membership, {"command_type": "shell", "script": "true"})
    submission.submit(member.membership, {"command_type": "shell", "script": "true"})
    # As lifecycle's own test: savepoint, update, admission (5), release; plus the INSERT
    # ... SELECT of the deliveries when the command notifies anyone.
    with django_assert_num_queries(queries):
        lifecycle.finish(running, Status.DONE)
    assert Delivery.objects.count() == (2 if with_notify else 0)


def test_cancel_costs_one_statement_for_notifications(member, django_assert_num_queries):
    command = submission.submit(member.membership, {"command_type": "shell",
                                                    "script": "true"})[0]
    # savepoint, cancel, deliveries, admission (lock, count, pick, mark), release, re-read.
    with django_assert_num_queries(9):
        lifecycle.cancel(command)
