"""Tenants and who may do what in them.

An :class:`Account` is a tenant. Users reach accounts through a :class:`Membership`; a
membership sits in account-scoped :class:`Group` s; groups carry :class:`Role` s; a role is a
list of :class:`Policy` rows. Evaluation lives in :mod:`accounts.policy`, nowhere else.
"""

import hashlib
import secrets

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models, transaction
from django.utils import timezone

SYSTEM_ADMIN = "system-admin"
SYSTEM_USER = "system-user"


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        if not email:
            raise ValueError("Users need an email address")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person or a service identity. Logs in with an email address."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="Operators: may use the Django admin."
    )
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    def __str__(self):
        return self.email


slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]*$", "Use lowercase letters, digits and '-'.")


class AccountManager(models.Manager):
    def create_account(self, slug, name="", **fields):
        """Create an account with its built-in ``system-admin`` and ``system-user`` groups."""
        from accounts.policy import install_builtin_roles

        with transaction.atomic():
            account = self.create(slug=slug, name=name or slug, **fields)
            install_builtin_roles(account)
        return account


class Account(models.Model):
    """A tenant. Nothing of one account is visible from another."""

    slug = models.SlugField(max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    max_concurrency = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1)],
        help_text="Commands queued or running at once; the rest wait, throttled.",
    )
    api_rate_limit = models.PositiveIntegerField(
        default=5000, validators=[MinValueValidator(1)], help_text="API requests per hour."
    )
    default_timeout = models.PositiveIntegerField(
        default=3600, validators=[MinValueValidator(1)],
        help_text="Seconds a command may run when it names no timeout.",
    )
    retention_days = models.PositiveIntegerField(
        default=90, validators=[MinValueValidator(1)],
        help_text="Finished commands, their logs and results are pruned after this many days.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    access_version = models.PositiveBigIntegerField(
        default=0, editable=False,
        help_text="Goes up on every change of who may do what here (accounts.access).")

    objects = AccountManager()

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.slug

    def save(self, *args, **kwargs):
        # access_version is only ever incremented in the database (accounts.access.bump); a
        # save of an instance read earlier must not write an older value back.
        if self.pk is not None and kwargs.get("update_fields") is None and not kwargs.get(
                "force_insert"):
            kwargs["update_fields"] = [f.attname for f in self._meta.concrete_fields
                                       if not f.primary_key and f.name != "access_version"]
        super().save(*args, **kwargs)


class Membership(models.Model):
    """A user's place in one account. Tokens and permissions hang off the membership."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    is_active = models.BooleanField(default=True)
    invitation_pending = models.BooleanField(
        default=False, help_text="An existing user was added and has not accepted yet; the "
        "membership is inactive until they do (accounts.api: /me/invitations/).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "user"], name="membership_unique")
        ]
        ordering = ["account_id", "id"]

    def __str__(self):
        return f"{self.user} @ {self.account}"

    def can(self, action, resource, obj=None, **context):
        """May this member do ``action`` on ``resource`` (optionally this object)?"""
        from accounts.policy import can

        return can(self, action, resource, obj=obj, **context)


class Group(models.Model):
    """Account-scoped group of members; the roles of its groups are what a member may do."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=100, validators=[slug_validator])
    builtin = models.BooleanField(default=False, editable=False)
    members = models.ManyToManyField(Membership, related_name="groups", blank=True)
    roles = models.ManyToManyField("Role", related_name="groups", blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="group_unique")]
        ordering = ["account_id", "name"]
        verbose_name = "account group"

    def __str__(self):
        return f"{self.account}/{self.name}"


class Role(models.Model):
    """A named list of policies within an account."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=100, validators=[slug_validator])
    description = models.CharField(max_length=300, blank=True)
    builtin = models.BooleanField(default=False, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="role_unique")]
        ordering = ["account_id", "name"]

    def __str__(self):
        return f"{self.account}/{self.name}"


class Policy(models.Model):
    """One allow or deny rule: ``access`` ``actions`` on ``resource`` (when ``conditions`` hold).

    ``conditions`` may hold ``command_types`` (a list: the rule applies only to commands of
    those types) and ``own`` (true: the rule applies only to objects the member created).
    """

    class Access(models.TextChoices):
        ALLOW = "allow"
        DENY = "deny"

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="policies")
    resource = models.CharField(max_length=40)
    actions = models.JSONField(default=list)
    access = models.CharField(max_length=5, choices=Access.choices, default=Access.ALLOW)
    conditions = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["role_id", "id"]
        verbose_name_plural = "policies"

    def __str__(self):
        return f"{self.access} {','.join(self.actions)} on {self.resource}"


TOKEN_PREFIX = "jp_"  # noqa: S105 (a visible marker, not a secret)


def hash_token(raw):
    """Tokens carry 256 bits of randomness, so a plain SHA-256 is a safe, fast lookup key."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def usable(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """An API credential of one membership. Only its SHA-256 is stored; the secret is shown once."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    # Where accounts.policy finds the tenant and the owner of a token.
    policy_account_field = "membership__account"
    policy_owner_field = "membership__user"

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, membership, name, expires_at=None):
        """Create a token and return ``(token, raw_secret)``; the secret is not stored."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            membership=membership, name=name, expires_at=expires_at,
            prefix=raw[: len(TOKEN_PREFIX) + 6], token_hash=hash_token(raw),
        )
        return token, raw

    @property
    def is_usable(self):
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > timezone.now()
        )

    def revoke(self):
        from accounts import access

        ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        self.refresh_from_db(fields=["revoked_at"])
        access.bump([self.membership.account_id])

    def touch(self, every_seconds=60):
        """Record use, at most once a minute, so reads do not turn into writes."""
        now = timezone.now()
        stale = now - timezone.timedelta(seconds=every_seconds)
        if self.last_used_at is not None and self.last_used_at >= stale:
            return
        # Conditional, so many processes seeing the same stale value write once.
        ApiToken.objects.filter(pk=self.pk).filter(
            models.Q(last_used_at__isnull=True) | models.Q(last_used_at__lt=stale)
        ).update(last_used_at=now)
        self.last_used_at = now  # this (possibly cached) instance does not write again


class AuditEvent(models.Model):
    """Who did what to which object, when, from where. Written by :func:`accounts.audit.record`."""

    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Account audit trail, newest first.
            models.Index(fields=["account", "-created_at"], name="audit_account_created"),
            # Retention pruning by age.
            models.Index(fields=["created_at"], name="audit_created"),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.action}"


class RateCounter(models.Model):
    """Requests of one account in one fixed window (see :mod:`accounts.throttling`)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    window_number = models.BigIntegerField(help_text="Epoch seconds // window length.")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # The upsert's conflict target: one row per account and window.
            models.UniqueConstraint(fields=["account", "window_number"], name="ratecounter_unique"),
        ]

    def __str__(self):
        return f"{self.account_id}@{self.window_number}: {self.count}"
