"""The sender: a thread of every worker process that takes due deliveries and sends them.

Each pass is three steps, each testable alone: :func:`claim` (a short transaction: ``FOR
UPDATE SKIP LOCKED`` on PostgreSQL, a conditional update per row on SQLite; the claim moves
``next_attempt_at`` past the attempt's time, a lease, so a sender that dies mid-attempt
leaves the delivery to be taken again), :func:`attempt` (HTTP or mail, no database, in a small
thread pool, so a slow endpoint ties up one thread for one timeout per delivery, not the
pass), and
:func:`record` (a conditional update: delivered, due again after a backoff, or given up).

Nothing here touches a command: a dead or slow endpoint costs its own deliveries' attempts
and nothing else.
"""

import logging
import smtplib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.db.utils import OperationalError
from django.utils import timezone
from django_tasks_db.utils import is_locked_database_exception

from accounts.invitations import mail_configured
from notifications import messages, webhooks
from notifications.models import Channel, Delivery, DeliveryState

logger = logging.getLogger(__name__)

EVENT_HEADER = "X-Jobportal-Event"
DELIVERY_HEADER = "X-Jobportal-Delivery"


def _config():
    return settings.NOTIFICATIONS


def lease_seconds():
    return _config()["TIMEOUT_SECONDS"] + 60


def backoff(attempts):
    """Seconds to wait after the ``attempts``-th failed attempt."""
    config = _config()
    return min(config["RETRY_SECONDS"] * 2 ** (attempts - 1), config["RETRY_MAX_SECONDS"])


def claim(now=None, batch=None):
    """Take up to ``batch`` due deliveries for this sender; return them with what sending
    needs (command, account, endpoint, submitter) loaded."""
    now = now or timezone.now()
    batch = batch or _config()["BATCH"]
    due = Delivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
    until = now + timedelta(seconds=lease_seconds())
    claimed = dict(attempts=F("attempts") + 1, next_attempt_at=until, last_attempt_at=now,
                   updated_at=now)
    if connection.vendor == "postgresql":
        with transaction.atomic():
            ids = list(due.order_by("next_attempt_at").select_for_update(skip_locked=True)
                       .values_list("pk", flat=True)[:batch])
            if ids:
                Delivery.objects.filter(pk__in=ids).update(**claimed)
    else:
        # Look before writing: an idle look must not take SQLite's write lock.
        candidates = list(due.order_by("next_attempt_at").values_list(
            "pk", "attempts")[:batch])
        ids = []
        try:
            for pk, attempts in candidates:
                if due.filter(pk=pk, attempts=attempts).update(**claimed):
                    ids.append(pk)
        except OperationalError as exc:
            if not is_locked_database_exception(exc):
                raise
    if not ids:
        return []
    return list(Delivery.objects.filter(pk__in=ids).select_related(
        "command__user", "account", "endpoint").order_by("id"))


def attempt(delivery):
    """Send ``delivery`` once (no database access): a :class:`webhooks.Outcome`. Whatever
    goes wrong is that delivery's failure, never the sender's."""
    try:
        return _attempt(delivery)
    except Exception as exc:  # one delivery must not stop the others
        logger.exception("delivery %s of command %s: unexpected error", delivery.pk,
                         delivery.command_id)
        return webhooks.Outcome(False, False, None,
                                f"Unexpected error: {type(exc).__name__}: {exc}"[:500])


def _attempt(delivery):
    if delivery.channel == Channel.WEBHOOK:
        body = messages.body(delivery)
        headers = {webhooks.SIGNATURE_HEADER: webhooks.signature_header(
                       delivery.endpoint.secret, body),
                   EVENT_HEADER: messages.EVENT, DELIVERY_HEADER: str(delivery.pk)}
        return webhooks.post(delivery.endpoint.url, body, headers,
                             _config()["TIMEOUT_SECONDS"])
    if not mail_configured():
        return webhooks.Outcome(False, False, None,
                                "Mail is not configured (EMAIL_HOST); nothing was sent.")
    subject, text = messages.email(delivery)
    try:
        send_mail(subject, text, None, [delivery.email])
    except (smtplib.SMTPException, OSError) as exc:
        permanent = isinstance(exc, smtplib.SMTPRecipientsRefused)
        return webhooks.Outcome(False, not permanent, None,
                                f"{type(exc).__name__}: {exc}"[:500])
    return webhooks.Outcome(True, False)


def record(delivery, outcome, now=None):
    """Write how the attempt went, if the delivery is still this sender's (its lease may have
    run out and another sender may hold it by now). Returns the new state or None."""
    now = now or timezone.now()
    mine = Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING,
                                   attempts=delivery.attempts)
    fields = dict(response_code=outcome.status, last_error=outcome.error, updated_at=now)
    if outcome.ok:
        state = DeliveryState.DELIVERED
        fields.update(state=state, delivered_at=now, next_attempt_at=None)
    elif outcome.retry and delivery.attempts < _config()["MAX_ATTEMPTS"]:
        state = DeliveryState.PENDING
        fields.update(next_attempt_at=now + timedelta(seconds=backoff(delivery.attempts)))
    else:
        state = DeliveryState.FAILED
        fields.update(state=state, next_attempt_at=None)
    if not mine.update(**fields):
        return None
    if state == DeliveryState.FAILED:
        logger.warning("delivery %s of command %s to %s failed after %d attempt(s): %s",
                       delivery.pk, delivery.command_id, delivery.target, delivery.attempts,
                       outcome.error)
    return state


def send_due(pool=None, now=None):
    """One pass: claim, attempt (in ``pool`` when given), record. Returns how many it took."""
    deliveries = claim(now)
    if not deliveries:
        return 0
    if pool is None:
        outcomes = [attempt(d) for d in deliveries]
    else:
        outcomes = list(pool.map(attempt, deliveries))
    for delivery, outcome in zip(deliveries, outcomes, strict=True):
        record(delivery, outcome)
    return len(deliveries)


class Sender(threading.Thread):
    """:func:`send_due` in a loop, beside a worker's loop (and its reaper), on its own database
    connection; idle, it looks every ``POLL_SECONDS``. A database error is logged and the next
    pass tries again."""

    def __init__(self, worker_id, poll=None):
        super().__init__(name=f"notify-{worker_id}", daemon=True)
        self.worker_id = worker_id
        self.poll = _config()["POLL_SECONDS"] if poll is None else poll
        self._stopped = threading.Event()

    def run(self):
        pool = ThreadPoolExecutor(max_workers=max(1, _config()["SENDER_THREADS"]),
                                  thread_name_prefix=f"notify-{self.worker_id}")
        try:
            while not self._stopped.is_set():
                if not self.step(pool):
                    self._stopped.wait(self.poll)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            connection.close()

    def step(self, pool=None):
        close_old_connections()
        try:
            return send_due(pool)
        except Exception:  # the thread outlives any one pass
            logger.exception("worker %s: sending notifications failed; trying again in %s s",
                             self.worker_id, self.poll)
            close_old_connections()
            return 0

    def stop(self):
        self._stopped.set()
        if self.is_alive():
            self.join(timeout=30)
