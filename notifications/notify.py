"""A command's ``notify``: who hears of its end, checked at submission and written with the
command (called by :mod:`jobs.submission`, in its transaction).

``{"on": "end" | "failure", "webhooks": [endpoint name or id, …], "emails": [address, …]}``.
Endpoints are the account's (named by the member who may see them: ``account`` read, the
right that lists them); e-mail goes only to active members of the account, so a submission
cannot make the portal mail arbitrary addresses.
"""

from django.db.models import Q

from accounts import policy
from accounts.models import Membership
from notifications.models import Channel, On, Subscription, WebhookEndpoint


class NotifyError(Exception):
    """``notify`` names something that cannot be notified (the submission answers 400)."""


def _endpoints(member, refs):
    if not refs:
        return []
    if not policy.can(member, "read", "account"):
        raise NotifyError("Your role may not use the account's webhook endpoints.")
    ids = [int(ref) for ref in refs if str(ref).isdigit() and len(str(ref)) <= 18]
    names = [str(ref) for ref in refs]
    found = list(WebhookEndpoint.objects.filter(
        Q(pk__in=ids) | Q(name__in=names), account_id=member.account_id))
    by_ref = {**{e.name: e for e in found}, **{str(e.pk): e for e in found}}
    missing = [str(ref) for ref in refs if str(ref) not in by_ref]
    if missing:
        raise NotifyError(f"No webhook endpoint {', '.join(missing)} in your account.")
    inactive = sorted({by_ref[str(ref)].name for ref in refs if not by_ref[str(ref)].active})
    if inactive:
        raise NotifyError(f"Webhook endpoint(s) {', '.join(inactive)} are not active.")
    return list({by_ref[str(ref)].pk: by_ref[str(ref)] for ref in refs}.values())


def _member_emails(account_id, emails):
    """The addresses of ``emails`` that belong to active members of the account."""
    wanted = {email.lower() for email in emails}
    if not wanted:
        return set()
    return set(Membership.objects.filter(
        account_id=account_id, is_active=True, user__email__in=wanted,
    ).values_list("user__email", flat=True))


def resolve(member, spec):
    """The unsaved :class:`Subscription` rows of ``spec`` (validated field by field by the
    serializer), or :class:`NotifyError`."""
    on = spec.get("on", On.END)
    endpoints = _endpoints(member, spec.get("webhooks") or [])
    emails = sorted({email.lower() for email in spec.get("emails") or []})
    members = _member_emails(member.account_id, emails)
    strangers = [email for email in emails if email not in members]
    if strangers:
        raise NotifyError(f"Not a member of this account: {', '.join(strangers)}. "
                          "Notification e-mail goes only to the account's members.")
    return [Subscription(account_id=member.account_id, on=on, channel=Channel.WEBHOOK,
                         endpoint=endpoint) for endpoint in endpoints] + [
        Subscription(account_id=member.account_id, on=on, channel=Channel.EMAIL, email=email)
        for email in emails]


def subscribe(command, subscriptions):
    """Write ``subscriptions`` for ``command`` (inside the submission's transaction)."""
    for subscription in subscriptions:
        subscription.command = command
    Subscription.objects.bulk_create(subscriptions)
    command.notify_targets = subscriptions  # for describe(): no query to show them


def copy(original, command):
    """A re-run hears of its end as the original did: the same endpoints, and the addresses
    that still belong to members."""
    subscriptions = list(Subscription.objects.filter(command=original).select_related("endpoint"))
    if not subscriptions:
        return
    members = _member_emails(command.account_id, [s.email for s in subscriptions if s.email])
    subscribe(command, [
        Subscription(account_id=s.account_id, on=s.on, channel=s.channel,
                     endpoint=s.endpoint, email=s.email)
        for s in subscriptions if s.channel == Channel.WEBHOOK or s.email in members])


def describe(command):
    """``notify`` as the portal API shows it, or None when the command notifies no one. One
    query, none when the command was just submitted or its read said it notifies no one
    (``command.notifies`` False, see :data:`jobs.reads.EXTRAS`)."""
    subscriptions = getattr(command, "notify_targets", None)
    if subscriptions is None:
        if getattr(command, "notifies", True) is False:
            return None
        subscriptions = list(Subscription.objects.filter(command_id=command.pk)
                             .select_related("endpoint"))
    if not subscriptions:
        return None
    return {
        "on": subscriptions[0].on,
        "webhooks": [s.endpoint.name for s in subscriptions if s.channel == Channel.WEBHOOK],
        "emails": [s.email for s in subscriptions if s.channel == Channel.EMAIL],
    }
