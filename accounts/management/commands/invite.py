"""invite <account> <email> [--group NAME ...] [--url URL]: add a person to an account and
print their one-time link to set a password (mailed too where mail is configured)."""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.core.validators import validate_email

from accounts import invitations
from accounts.models import SYSTEM_USER, Account, Group, Membership
from jobportal.cli import PortalCommand


class Command(PortalCommand):
    help = ("Add EMAIL to ACCOUNT (in the system-user group unless --group is given) and print "
            "the one-time link where they set a password. A person who already has a user "
            "gets an invitation to accept instead.")

    def add_arguments(self, parser):
        parser.add_argument("account", help="The account's slug.")
        parser.add_argument("email")
        parser.add_argument("--group", action="append", dest="groups", metavar="NAME",
                            help=f"A group to join (repeatable; default {SYSTEM_USER}).")
        parser.add_argument("--url", default="http://127.0.0.1:8000",
                            help="The portal's address, for the link.")

    def handle(self, account, email, groups, url, **options):
        try:
            validate_email(email)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        found = Account.objects.filter(slug=account).first()
        if found is None:
            raise CommandError(f"No account {account!r}.")
        if Membership.objects.filter(account=found, user__email=email.lower()).exists():
            raise CommandError(f"{email} is a member of {account} already.")
        names = groups or [SYSTEM_USER]
        chosen = list(Group.objects.filter(account=found, name__in=names))
        missing = set(names) - {group.name for group in chosen}
        if missing:
            raise CommandError(f"No group {', '.join(sorted(missing))} in {account}.")
        membership = invitations.add_member(found, email, groups=chosen)
        link = invitations.welcome(membership, url)
        if link is None:
            self.stdout.write(f"{email} already has a user: invited; they accept it under "
                              "/api/v1/me/invitations/.")
        else:
            self.stdout.write(f"{email} added to {account}. Their link to set a password "
                              f"(works once):\n{link}")
