"""createaccount <slug> --admin <email> [--token]: an account, its built-in groups, its admin."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from accounts.models import SYSTEM_ADMIN, Account, ApiToken, Membership, User, slug_validator


class Command(BaseCommand):
    help = (
        "Create an account with its built-in groups and an admin member. With --token, print a "
        "new API token alone on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="")
        parser.add_argument("--admin", required=True, metavar="EMAIL")
        parser.add_argument("--password", help="Set this password for the admin user.")
        parser.add_argument("--token", action="store_true", help="Issue an API token.")
        parser.add_argument("--max-concurrency", type=int)

    def handle(self, slug, name, admin, password, token, max_concurrency, **options):
        try:
            slug_validator(slug)
            validate_email(admin)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        if Account.objects.filter(slug=slug).exists():
            raise CommandError(f"Account {slug!r} exists already.")
        fields = {"max_concurrency": max_concurrency} if max_concurrency else {}
        with transaction.atomic():
            account = Account.objects.create_account(slug, name, **fields)
            user = User.objects.filter(email=admin.lower()).first() or User.objects.create_user(
                admin, password
            )
            if password:
                user.set_password(password)
                user.save(update_fields=["password"])
            membership = Membership.objects.create(account=account, user=user)
            membership.groups.add(account.groups.get(name=SYSTEM_ADMIN))
            raw = ApiToken.issue(membership, "createaccount")[1] if token else None
        self.stdout.write(f"Created account {slug} with admin {user.email}.")
        if raw:
            self.stdout.write(raw)
