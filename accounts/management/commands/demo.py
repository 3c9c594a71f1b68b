"""demo: make sure a demo account exists and print a fresh login and API token for it."""

import secrets

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import SYSTEM_ADMIN, Account, ApiToken, Membership, User
from jobs import sandbox

DEMO_TOKEN_NAME = "demo (make run)"  # noqa: S105 (a label, not a secret)


class Command(BaseCommand):
    help = "Create the demo account and admin if missing; print a new password and API token."

    def add_arguments(self, parser):
        parser.add_argument("--email", default="admin@demo.example")
        parser.add_argument("--url", default="http://127.0.0.1:8000")

    @transaction.atomic
    def handle(self, email, url, **options):
        account = Account.objects.filter(slug="demo").first() or Account.objects.create_account(
            "demo", "Demo account", max_concurrency=4
        )
        user = User.objects.filter(email=email).first() or User.objects.create_user(email)
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        # The demo admin is also an operator, so the Django admin is one click away.
        user.is_staff = user.is_superuser = True
        user.save()
        membership, _ = Membership.objects.get_or_create(account=account, user=user)
        membership.groups.add(account.groups.get(name=SYSTEM_ADMIN))
        ApiToken.objects.filter(membership=membership, name=DEMO_TOKEN_NAME,
                                revoked_at__isnull=True).update(revoked_at=timezone.now())
        raw = ApiToken.issue(membership, DEMO_TOKEN_NAME)[1]
        self.stdout.write(
            "\n"
            f"  Jobportal is starting at {url}/\n"
            f"  Pages:      {url}/   login {email} / {password}\n"
            f"  Admin:      {url}/admin/   login {email} / {password}\n"
            f"  API docs:   {url}/api/docs/\n"
            f"  API token:  {raw}\n"
            f"  Try:        curl -H 'Authorization: Bearer {raw}' {url}/api/v1/me\n"
            f"  Sandbox:    {sandbox_line()}\n"
        )


def sandbox_line():
    """How shell commands will run, in the banner's words."""
    state = sandbox.status()
    if state.mode == sandbox.BUBBLEWRAP:
        return "bubblewrap (every shell command runs isolated)"
    if state.mode == sandbox.OFF:
        return "off (JOBPORTAL_SANDBOX=off: shell commands run unsandboxed, as the worker's user)"
    return (f"unavailable, shell commands will be refused: {state.reason}\n"
            "              (install bubblewrap, or set JOBPORTAL_SANDBOX=off to run them "
            "unsandboxed)")
