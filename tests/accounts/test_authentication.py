"""Token authentication in every header style; 401 with problem details otherwise."""

import datetime as dt

import httpx
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, hash_token


@pytest.mark.parametrize("style", ["bearer", "x-ray-authorization", "x-auth-token",
                                   "x-api-key", "query"])
def test_each_token_style_authenticates(member, style):
    client = APIClient()
    url = "/api/v1/me"
    if style == "bearer":
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {member.token}")
    elif style == "x-ray-authorization":
        response = client.get(url, HTTP_X_RAY_AUTHORIZATION=f"Bearer {member.token}")
    elif style == "x-auth-token":
        response = client.get(url, HTTP_X_AUTH_TOKEN=member.token)
    elif style == "x-api-key":
        response = client.get(url, HTTP_X_API_KEY=member.token)
    else:
        response = client.get(url, {"api_key": member.token})
    assert response.status_code == 200
    assert response.json()["user"]["email"] == "member@acme.test"


def assert_unauthorized(response):
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 401
    assert body["title"] == "Unauthorized"
    assert body["detail"]
    assert body["instance"] == "/api/v1/me"


def test_missing_token_is_401_not_403_nor_a_redirect(db, anonymous):
    assert_unauthorized(anonymous.get("/api/v1/me"))


def test_unknown_token_is_401(db, anonymous):
    assert_unauthorized(anonymous.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer jp_nonsense"))


def test_revoked_token_is_401(member):
    token = ApiToken.objects.get(token_hash=hash_token(member.token))
    token.revoke()
    assert_unauthorized(member.client.get("/api/v1/me"))


def test_expired_token_is_401(member):
    ApiToken.objects.filter(token_hash=hash_token(member.token)).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert_unauthorized(member.client.get("/api/v1/me"))


def test_token_of_a_deactivated_account_is_401(member):
    member.account.is_active = False
    member.account.save()
    assert_unauthorized(member.client.get("/api/v1/me"))


def test_tokens_are_stored_hashed_and_record_their_last_use(member):
    token = ApiToken.objects.get(membership=member.membership)
    assert member.token not in (token.token_hash, token.prefix)
    assert token.token_hash == hash_token(member.token)
    assert token.last_used_at is None
    member.client.get("/api/v1/me")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_session_users_reach_the_api(member):
    client = APIClient()
    client.force_login(member.user)
    response = client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["account"]["slug"] == "acme"


@pytest.mark.django_db(transaction=True)
def test_token_styles_over_real_http(live_server):
    from accounts.models import SYSTEM_USER, Account
    from tests.conftest import make_member

    account = Account.objects.create_account("live", "Live")
    actor = make_member(account, "live@live.test", [SYSTEM_USER])
    url = f"{live_server.url}/api/v1/me"
    with httpx.Client(timeout=10) as client:
        assert client.get(url, headers={"X-AUTH-TOKEN": actor.token}).status_code == 200
        assert client.get(url, headers={"X-API-Key": actor.token}).status_code == 200
        assert client.get(url, params={"api_key": actor.token}).status_code == 200
        denied = client.get(url)
    assert denied.status_code == 401
    assert denied.headers["content-type"] == "application/problem+json"
    assert denied.headers["www-authenticate"].startswith("Bearer")


def test_an_api_key_in_the_query_is_never_repeated_in_responses(member):
    from jobs import lifecycle

    for _ in range(3):
        lifecycle.submit(account=member.account, user=member.user, source="api",
                         command_type="shell", script="true")
    client = APIClient()
    page = client.get("/api/v1/commands/", {"api_key": member.token, "page_size": 1})
    assert page.status_code == 200
    assert page.json()["next"] and member.token not in page.json()["next"]
    missing = client.get("/api/v1/commands/999999/", {"api_key": member.token})
    assert missing.status_code == 404
    assert member.token not in missing.content.decode()
