"""Member onboarding: a person added to an account sets a password through a one-time link.

Adding a person who has no user yet makes one without a password; they get a link to set it.
The link is Django's password-reset machinery: a token bound to the user's password hash and
last login, valid for ``PASSWORD_RESET_TIMEOUT`` (3 days by default) and spent once the
password is set. Where mail is configured (``EMAIL_HOST``, or a mail backend other than SMTP)
the link is mailed; whoever added the person also sees it once (the API's answer, a
message in the admin, ``manage.py invite``), so onboarding works with no mail at all.

Adding someone who already has a user (in another account) makes an invitation instead: the
membership stays inactive until that user accepts it (``/api/v1/me/invitations/``).
"""

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import Membership, User

SMTP = "django.core.mail.backends.smtp.EmailBackend"


@transaction.atomic
def add_member(account, email, groups=(), name="", **fields):
    """The new membership of ``email`` in ``account``, in ``groups``: a new user without a
    password, or an inactive invitation for an existing user until they accept it."""
    user = User.objects.filter(email=email.lower()).first()
    if user is None:
        user = User.objects.create_user(email, name=name)
    else:
        # Someone who already has a user joins only if they accept; until then the
        # membership is inactive and shows no name.
        fields.update(is_active=False, invitation_pending=True)
    membership = Membership.objects.create(user=user, account=account, **fields)
    membership.groups.set(groups)
    return membership


def welcome_url(user, base_url):
    """The one-time address where ``user`` sets a password (absolute, from ``base_url``)."""
    path = reverse("accounts:welcome", args=[urlsafe_base64_encode(force_bytes(user.pk)),
                                             default_token_generator.make_token(user)])
    return base_url.rstrip("/") + path


def mail_configured():
    """SMTP with a host, or any other backend chosen on purpose (tests use Django's locmem)."""
    mailer = settings.MAILERS["default"]
    if mailer.get("BACKEND", SMTP) != SMTP:
        return True
    return bool(mailer.get("OPTIONS", {}).get("host"))


def welcome(membership, base_url):
    """For a member who has no password yet: their link (mailed where mail is configured),
    else None (they sign in as they already do)."""
    user = membership.user
    if membership.invitation_pending or user.has_usable_password():
        return None
    url = welcome_url(user, base_url)
    if mail_configured():
        send_mail(
            f"You have been added to {membership.account.name or membership.account.slug} "
            "on Jobportal",
            f"Set your password here (the link works once, for "
            f"{settings.PASSWORD_RESET_TIMEOUT // 3600} hours):\n\n{url}\n\nThen sign in with "
            f"{user.email} and make your own API tokens on the tokens page.\n",
            None, [user.email])
    return url
