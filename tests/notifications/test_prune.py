"""prune keeps the delivery log for JOBPORTAL_NOTIFY_RETENTION_DAYS, and pending deliveries
whatever their age."""

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from jobs import lifecycle, submission
from notifications.models import Delivery


def ended_with_deliveries(actor, count=3):
    command, _ = submission.submit(actor.membership, {
        "command_type": "shell", "script": "true",
        "notify": {"emails": [actor.user.email]}})
    lifecycle.cancel(command)
    for _ in range(count - 1):
        delivery = Delivery.objects.filter(command=command).first()
        delivery.pk = None
        delivery.save()
    return command


def prune(*args):
    out = StringIO()
    call_command("prune", *args, stdout=out)
    return out.getvalue()


def test_the_delivery_log_goes_after_its_retention_but_pending_deliveries_stay(
        member, outsider, settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "RETENTION_DAYS": 30}
    ended_with_deliveries(member)
    ended_with_deliveries(outsider)
    old = timezone.now() - timedelta(days=31)
    Delivery.objects.update(created_at=old, state="delivered")
    pending = Delivery.objects.filter(account=member.account).first()
    Delivery.objects.filter(pk=pending.pk).update(state="pending")
    recent = Delivery.objects.filter(account=member.account).last()
    Delivery.objects.filter(pk=recent.pk).update(created_at=timezone.now())

    assert "notifications: would delete 4 delivery log row(s) older than 30 days" in prune(
        "--dry-run")
    assert Delivery.objects.count() == 6
    assert "deleted 1 " in prune("--account", "acme")  # only that account's
    assert "deleted 3 " in prune()
    assert set(Delivery.objects.values_list("pk", flat=True)) == {pending.pk, recent.pk}
