"""Who hears about a command when it ends, and the log of telling them.

- :class:`WebhookEndpoint`: an account's URL that receives signed JSON posts.
- :class:`Subscription`: one target (an endpoint or an e-mail address) of one command's
  ``notify``, written with the command at submission (:mod:`notifications.notify`).
- :class:`Delivery`: one message to one target about one ending, created in the same
  transaction as the command's terminal transition (:mod:`notifications.recording`) and sent
  afterwards by the worker processes' sender thread (:mod:`notifications.sender`).
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Account
from jobs.models import Command


def new_secret():
    """A signing secret: 32 random bytes, URL-safe, with a prefix that says what it is."""
    return f"whsec_{secrets.token_urlsafe(32)}"


class WebhookEndpoint(models.Model):
    """A URL of the account's that the portal POSTs command endings to, signed with
    ``secret``. The secret must be usable to sign, so it is stored as it is (not hashed, like
    a data source's DSN); it is shown once, when created or rotated, and never again."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE,
                                related_name="webhook_endpoints", db_index=False)
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=2000)
    description = models.TextField(blank=True)
    secret = models.CharField(max_length=100, default=new_secret, editable=False)
    active = models.BooleanField(default=True,
                                 help_text="Inactive endpoints get no new deliveries.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account_id", "name"]
        constraints = [
            # Also the index of lists (WHERE account = ? ORDER BY name) and of lookups by name.
            models.UniqueConstraint(fields=["account", "name"], name="webhook_account_name"),
        ]

    def __str__(self):
        return self.name


class On(models.TextChoices):
    """Which endings a subscription hears of."""

    END = "end", "Every end (done, error, cancelled)"
    FAILURE = "failure", "Errors only"


# The ``on`` values that hear of each terminal status (a cancel is someone's decision, not a
# failure; a timeout or a lost worker is an error).
HEARD_BY = {"done": (On.END,), "error": (On.END, On.FAILURE), "cancelled": (On.END,)}


class Channel(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    EMAIL = "email", "E-mail"


class Subscription(models.Model):
    """One target of one command's ``notify``: an endpoint or an e-mail address."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+",
                                db_index=False)
    # The index of the one query a terminal transition makes (WHERE command = ?).
    command = models.ForeignKey(Command, on_delete=models.CASCADE,
                                related_name="notify_subscriptions")
    on = models.CharField(max_length=10, choices=On.choices, default=On.END)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    endpoint = models.ForeignKey(WebhookEndpoint, null=True, blank=True,
                                 on_delete=models.CASCADE, related_name="subscriptions")
    email = models.EmailField(blank=True)

    class Meta:
        ordering = ["command_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(channel="webhook", endpoint__isnull=False, email="")
                           | Q(channel="email", endpoint__isnull=True) & ~Q(email="")),
                name="subscription_one_target"),
        ]

    def __str__(self):
        return f"#{self.command_id} -> {self.endpoint_id or self.email} on {self.on}"


class DeliveryState(models.TextChoices):
    """pending (due at ``next_attempt_at``) -> delivered | failed (given up)."""

    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One message about one command's end to one target, and how sending it went.

    While ``pending``, ``next_attempt_at`` is when a sender may take it: a claim moves it past
    the attempt's timeout (a lease), so a sender that dies mid-attempt leaves it to be taken
    again, never stuck."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+",
                                db_index=False)
    command = models.ForeignKey(Command, on_delete=models.CASCADE,
                                related_name="notify_deliveries", db_index=False)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    endpoint = models.ForeignKey(WebhookEndpoint, null=True, blank=True,
                                 on_delete=models.CASCADE, related_name="deliveries",
                                 db_index=False)
    email = models.EmailField(blank=True)
    event = models.CharField(max_length=10, help_text="The command's status when it ended.")
    state = models.CharField(max_length=10, choices=DeliveryState.choices,
                             default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            # The sender's claim: WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY it.
            models.Index(fields=["state", "next_attempt_at"], name="delivery_due"),
            # A command's notifications: WHERE command = ? ORDER BY id.
            models.Index(fields=["command", "id"], name="delivery_command"),
            # An endpoint's deliveries, newest first.
            models.Index(fields=["endpoint", "-id"], name="delivery_endpoint"),
            # The account's log in the admin, newest first.
            models.Index(fields=["account", "-id"], name="delivery_account"),
            # Retention: WHERE created_at < ?.
            models.Index(fields=["created_at"], name="delivery_created"),
        ]

    def __str__(self):
        return f"#{self.command_id} {self.event} -> {self.endpoint_id or self.email}: {self.state}"

    @property
    def target(self):
        return self.endpoint.name if self.endpoint_id else self.email
