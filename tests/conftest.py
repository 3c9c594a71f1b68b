"""Shared fixtures: an account with an admin, a member, a read-only member, and an outsider in
another account, each with an API token; API clients acting as each of them."""

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from accounts.models import (
    SYSTEM_ADMIN,
    SYSTEM_USER,
    Account,
    ApiToken,
    Group,
    Membership,
    Policy,
    Role,
    User,
)


@dataclass
class Actor:
    user: User
    membership: Membership
    token: str
    client: APIClient

    @property
    def account(self):
        return self.membership.account


def client_for(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def make_member(account, email, group_names=(), roles=()):
    user = User.objects.filter(email=email).first() or User.objects.create_user(email)
    membership = Membership.objects.create(account=account, user=user)
    for name in group_names:
        membership.groups.add(Group.objects.get(account=account, name=name))
    for role in roles:
        group = Group.objects.create(account=account, name=f"{role.name}-group")
        group.roles.add(role)
        membership.groups.add(group)
    _, raw = ApiToken.issue(membership, "test")
    return Actor(user, membership, raw, client_for(raw))


def make_viewer_role(account):
    role = Role.objects.create(account=account, name="viewer")
    Policy.objects.create(role=role, resource="commands", actions=["read"])
    Policy.objects.create(role=role, resource="data_sources", actions=["read"])
    Policy.objects.create(role=role, resource="datasets", actions=["read"])
    Policy.objects.create(role=role, resource="saved_queries", actions=["read"])
    Policy.objects.create(role=role, resource="schedules", actions=["read"])
    Policy.objects.create(role=role, resource="tokens", actions=["*"], conditions={"own": True})
    return role


@pytest.fixture
def work_root():
    """Where workers make commands' work directories: traversable by the user a root worker
    runs sandboxed commands as (pytest's tmp_path lies in a directory only root may enter)."""
    path = Path(tempfile.mkdtemp(prefix="jobportal-work-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Each test starts with empty per-process caches: ids of rolled-back rows come back."""
    from accounts import access, throttling
    from jobs.api.events import shared_status

    for forget in (access.forget, throttling.forget_counts, shared_status.clear):
        forget()
    yield
    for forget in (access.forget, throttling.forget_counts, shared_status.clear):
        forget()


@pytest.fixture
def warm_process(settings):
    """A web process past its first request: query counts then show what each request costs,
    not the once-per-interval reads of the access cache and rate counter (see
    accounts.access and accounts.throttling), whose intervals are stretched for the test."""
    settings.JOBPORTAL = {**settings.JOBPORTAL, "ACCESS_CACHE_SECONDS": 3600,
                          "RATE_FLUSH_SECONDS": 3600}

    def warm_up(actor):
        assert actor.client.get("/api/v1/me").status_code == 200

    return warm_up


@pytest.fixture
def account(db):
    return Account.objects.create_account("acme", "Acme", max_concurrency=2)


@pytest.fixture
def other_account(db):
    return Account.objects.create_account("globex", "Globex")


@pytest.fixture
def admin(account):
    return make_member(account, "admin@acme.test", [SYSTEM_ADMIN])


@pytest.fixture
def member(account):
    return make_member(account, "member@acme.test", [SYSTEM_USER])


@pytest.fixture
def reader(account):
    return make_member(account, "reader@acme.test", roles=[make_viewer_role(account)])


@pytest.fixture
def outsider(other_account):
    return make_member(other_account, "outsider@globex.test", [SYSTEM_ADMIN])


@pytest.fixture
def actors(admin, member, reader, outsider):
    return {"admin": admin, "member": member, "reader": reader, "outsider": outsider}


@pytest.fixture
def anonymous():
    return APIClient()
