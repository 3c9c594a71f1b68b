"""The per-process access cache, batched rate counting and the membership of every request."""

import time

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from accounts import access, throttling
from accounts.authentication import membership_of
from accounts.middleware import MembershipMiddleware
from accounts.models import Account, ApiToken, Group, Policy, RateCounter


@pytest.fixture
def short_cache(settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "ACCESS_CACHE_SECONDS": 0.5}


def commands_of(actor):
    return actor.client.get("/api/v1/commands/")


def test_a_warm_token_costs_no_query(member, django_assert_num_queries):
    assert access.authenticate(member.token) is not None
    with django_assert_num_queries(0):
        token = access.authenticate(member.token)
    assert token.membership.pk == member.membership.pk


def test_a_token_revoked_by_another_process_stops_working_within_the_cache_lifetime(
        member, short_cache):
    assert commands_of(member).status_code == 200
    # Another web process revoking it: a bare UPDATE, which this process does not hear of.
    ApiToken.objects.filter(membership=member.membership).update(revoked_at=timezone.now())
    time.sleep(0.6)  # the stated bound, ACCESS_CACHE_SECONDS
    assert commands_of(member).status_code == 401


def test_a_role_removed_by_another_process_stops_working_within_the_cache_lifetime(
        member, short_cache):
    assert commands_of(member).status_code == 200
    Group.members.through.objects.filter(membership=member.membership).delete()
    Account.objects.filter(pk=member.account.pk).update(access_version=99)
    time.sleep(0.6)
    assert commands_of(member).status_code == 403


def test_a_revocation_in_this_process_holds_from_the_next_request(member):
    assert commands_of(member).status_code == 200
    ApiToken.objects.get(membership=member.membership).revoke()
    assert commands_of(member).status_code == 401


def test_a_policy_change_in_this_process_holds_from_the_next_request(member):
    assert commands_of(member).status_code == 200
    role = member.membership.groups.get().roles.get()
    Policy.objects.create(role=role, resource="commands", actions=["read"], access="deny")
    assert commands_of(member).status_code == 403


def test_policies_are_not_read_again_while_the_account_access_is_unchanged(
        member, short_cache, django_assert_num_queries):
    assert commands_of(member).status_code == 200
    time.sleep(0.6)
    with django_assert_num_queries(1):  # the token row again; the policies are kept
        assert access.authenticate(member.token) is not None


def test_a_deactivated_membership_stops_every_token_of_it(member):
    assert commands_of(member).status_code == 200
    member.membership.is_active = False
    member.membership.save()
    assert commands_of(member).status_code == 401


# -- rate counting ---------------------------------------------------------------------------


def shared_count(account):
    return sum(RateCounter.objects.filter(account=account).values_list("count", flat=True))


def test_requests_far_from_the_limit_are_added_to_the_shared_count_in_batches(
        member, settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "RATE_FLUSH_REQUESTS": 10,
                          "RATE_FLUSH_SECONDS": 3600}
    now = time.time()
    counts = [throttling.count_request(member.account.pk, 5000, now) for _ in range(25)]
    assert counts == list(range(1, 26))
    assert shared_count(member.account) == 21  # the first alone, then two batches of ten


def test_near_the_limit_every_request_is_added_at_once(member, settings):
    settings.JOBPORTAL = {**settings.JOBPORTAL, "RATE_FLUSH_REQUESTS": 10,
                          "RATE_FLUSH_SECONDS": 3600}
    now = time.time()
    for _ in range(25):
        throttling.count_request(member.account.pk, 30, now)
    assert shared_count(member.account) == 25


def test_the_overshoot_of_several_processes_stays_within_the_stated_bound(member, settings):
    """Two web processes (this one's tally, swapped) share one counter: together they let
    through at most RATE_FLUSH_REQUESTS - 1 requests per process beyond the limit."""
    batch, limit, processes = 10, 100, 2
    settings.JOBPORTAL = {**settings.JOBPORTAL, "RATE_FLUSH_REQUESTS": batch,
                          "RATE_FLUSH_SECONDS": 3600}
    now = time.time()
    web_processes = [throttling.LocalCounts() for _ in range(processes)]
    allowed = sum(web_processes[i % processes].count(member.account.pk, limit, now) <= limit
                  for i in range(400))
    assert limit <= allowed <= limit + processes * (batch - 1)


# -- the membership of plain Django requests ---------------------------------------------------


def through_middleware(request):
    seen = {}

    def view(request):
        seen["member"] = membership_of(request)
        return HttpResponse()

    MembershipMiddleware(view)(request)
    return seen["member"]


def test_a_plain_django_view_sees_the_membership_of_a_token(member):
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {member.token}")
    assert through_middleware(request).pk == member.membership.pk


def test_a_plain_django_view_sees_the_membership_of_a_session(member):
    request = RequestFactory().get("/")
    request.user = member.user
    request.session = {}
    assert through_middleware(request).pk == member.membership.pk


def test_a_plain_django_view_sees_no_membership_for_a_bad_token(db):
    request = RequestFactory().get("/", HTTP_X_AUTH_TOKEN="jp_not-a-token")
    assert through_middleware(request) is None


def test_nothing_is_read_until_the_membership_is_asked_for(member, django_assert_num_queries):
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {member.token}")
    with django_assert_num_queries(0):
        MembershipMiddleware(lambda request: HttpResponse())(request)
