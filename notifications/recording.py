"""The deliveries a command's end owes, written by :mod:`jobs.lifecycle` inside the
transaction of the terminal transition itself, so an ending is never recorded without its
notifications (nor the other way round), whatever crashes afterwards.

One statement: ``INSERT INTO delivery … SELECT … FROM subscription WHERE command = ?``. For a
command with no ``notify`` it inserts nothing and costs one indexed lookup; the worker's own
finish skips even that when the claim already read that there is nothing to notify
(:func:`jobs.lifecycle.claim` annotates ``notifies``).
"""

import functools

from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from notifications.models import HEARD_BY, Delivery, DeliveryState, Subscription, WebhookEndpoint


def notifies():
    """An ``Exists`` for annotating commands: does this command notify anyone?"""
    return Exists(Subscription.objects.filter(command_id=OuterRef("pk")))


@functools.cache
def _statement(vendor, ons):
    """The INSERT ... SELECT for a status heard by ``ons`` subscriptions' ``on`` values."""
    q = connection.ops.quote_name
    d, s, e = (q(m._meta.db_table) for m in (Delivery, Subscription, WebhookEndpoint))
    columns = ("account_id", "command_id", "channel", "endpoint_id", "email", "event", "state",
               "attempts", "next_attempt_at", "last_error", "created_at", "updated_at")
    true = "TRUE" if vendor == "postgresql" else "1"
    return (
        f"INSERT INTO {d} ({', '.join(q(c) for c in columns)}) "
        f"SELECT {s}.{q('account_id')}, {s}.{q('command_id')}, {s}.{q('channel')}, "
        f"{s}.{q('endpoint_id')}, {s}.{q('email')}, %s, %s, 0, %s, '', %s, %s "
        f"FROM {s} LEFT OUTER JOIN {e} ON {e}.{q('id')} = {s}.{q('endpoint_id')} "
        f"WHERE {s}.{q('command_id')} = %s AND {s}.{q('on')} IN ({', '.join(['%s'] * ons)}) "
        # An endpoint switched off since the submission gets nothing new.
        f"AND ({s}.{q('endpoint_id')} IS NULL OR {e}.{q('active')} = {true}) "
        f"ORDER BY {s}.{q('id')}"
    )


def record(command_id, status, now=None):
    """Queue the deliveries of ``command_id`` having ended as ``status``; returns how many.
    Call inside the transition's transaction."""
    heard_by = HEARD_BY[status]
    now = now or timezone.now()
    sql = _statement(connection.vendor, len(heard_by))
    stamp = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(sql, [status, DeliveryState.PENDING, stamp, stamp, stamp, command_id,
                             *[str(on) for on in heard_by]])
        return cursor.rowcount
