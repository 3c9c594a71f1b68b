"""Member onboarding: an admin adds a person by email; they set a password through a one-time,
expiring link (mailed, and shown once to whoever added them), sign in and make their tokens."""

import re

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import ApiToken, AuditEvent, Membership, User


def add(admin, email="new@acme.test"):
    response = admin.client.post("/api/v1/members/", {"email": email,
                                                      "groups": ["system-user"]}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def set_password(link, password="a long new pass phrase"):  # noqa: S107
    """Follow the link as a browser does: it redirects to a form that sets the password."""
    browser = Client()
    page = browser.get(link, follow=True)
    if "<h1>Set your password</h1>" not in page.content.decode():
        return browser, page
    done = browser.post(page.redirect_chain[-1][0], {
        "new_password1": password, "new_password2": password}, follow=True)
    return browser, done


def test_adding_a_new_person_answers_their_link_once_and_mails_it(admin):
    body = add(admin)
    link = body["invitation_url"]
    assert link.startswith("http://testserver/accounts/welcome/")
    [message] = mail.outbox
    assert message.to == ["new@acme.test"] and link in message.body
    listed = admin.client.get("/api/v1/members/").json()
    assert all(m["invitation_url"] is None for m in listed)
    assert admin.client.get(f"/api/v1/members/{body['id']}/").json()["invitation_url"] is None


def test_the_link_sets_a_password_then_the_member_signs_in_and_makes_a_token(admin):
    link = add(admin)["invitation_url"]
    _, done = set_password(link)
    assert "Your password is set" in done.content.decode()
    browser = Client()
    signed_in = browser.post("/accounts/login/", {"username": "new@acme.test",
                                                  "password": "a long new pass phrase"})
    assert signed_in.status_code == 302
    page = browser.post("/accounts/tokens/", {"name": "laptop"})
    assert page.status_code in (200, 302)
    member = Membership.objects.get(user__email="new@acme.test")
    assert ApiToken.objects.filter(membership=member, name="laptop").exists()


def test_the_link_works_once(admin):
    link = add(admin)["invitation_url"]
    set_password(link)
    _, again = set_password(link)
    assert "This link no longer works" in again.content.decode()
    assert User.objects.get(email="new@acme.test").check_password("a long new pass phrase")


def test_an_expired_link_no_longer_works(admin, settings):
    link = add(admin)["invitation_url"]
    settings.PASSWORD_RESET_TIMEOUT = -1
    _, page = set_password(link)
    assert "This link no longer works" in page.content.decode()
    assert not User.objects.get(email="new@acme.test").has_usable_password()


def test_a_weak_password_is_refused_on_the_form(admin):
    _, page = set_password(add(admin)["invitation_url"], password="123")
    assert "This password is too short" in page.content.decode()
    assert not User.objects.get(email="new@acme.test").has_usable_password()


def test_an_existing_user_of_another_account_gets_an_invitation_not_a_link(admin, outsider):
    body = add(admin, outsider.user.email)
    assert body["invitation_url"] is None and body["invitation_pending"] is True
    assert mail.outbox == []


def test_without_mail_configured_nothing_is_sent_and_the_link_is_still_answered(admin,
                                                                                  settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                                    "OPTIONS": {"host": ""}}}
    assert add(admin)["invitation_url"]
    assert mail.outbox == []


def test_manage_py_invite_prints_the_link(account, capsys):
    call_command("invite", "acme", "cli@acme.test", "--url", "https://portal.example")
    out = capsys.readouterr().out
    link = re.search(r"https://portal\.example/accounts/welcome/\S+", out).group(0)
    member = Membership.objects.get(user__email="cli@acme.test")
    assert [g.name for g in member.groups.all()] == ["system-user"]
    _, done = set_password(link.replace("https://portal.example", ""))
    assert "Your password is set" in done.content.decode()


@pytest.mark.parametrize("args, message", [
    (["nowhere", "x@acme.test"], "No account"),
    (["acme", "not-an-email"], "valid email"),
    (["acme", "x@acme.test", "--group", "nope"], "No group nope"),
])
def test_manage_py_invite_refuses_bad_input(account, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("invite", *args)


def test_adding_a_member_in_the_admin_shows_the_link_once(account, client):
    operator = User.objects.create_superuser("ops@portal.test")
    client.force_login(operator)
    user = User.objects.create_user("admin-added@acme.test")
    page = client.post("/admin/accounts/membership/add/", {
        "user": user.pk, "account": account.pk, "is_active": "on"}, follow=True)
    assert "sets a password with this one-time link" in page.content.decode()
    assert AuditEvent.objects.filter(action="members.create").exists()
