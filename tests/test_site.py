"""Site-wide behaviour: health, problem details for every error, rate limits, docs, settings."""

import os
import subprocess
import sys

import pytest
from django.core.management import call_command

from accounts.models import Account, ApiToken, Membership, User
from tests.conftest import client_for


def test_healthz_answers_200_with_json_when_the_database_is_up(db, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "sandbox": "bubblewrap"}


def sandbox_settings(settings, **changes):
    settings.JOBPORTAL = {**settings.JOBPORTAL, **changes}


def test_healthz_says_the_sandbox_is_unavailable_and_stays_200_without_bubblewrap(
    db, client, settings
):
    sandbox_settings(settings, BWRAP="/nonexistent/bwrap")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "sandbox": "unavailable"}


def test_healthz_says_the_sandbox_is_off_when_the_operator_opted_out(db, client, settings):
    sandbox_settings(settings, SANDBOX="off", BWRAP="/nonexistent/bwrap")
    assert client.get("/healthz").json()["sandbox"] == "off"


@pytest.mark.parametrize(("changes", "shown"), [
    ({}, "bubblewrap"),
    ({"BWRAP": "/nonexistent/bwrap"}, "unavailable"),
    ({"SANDBOX": "off"}, "off"),
])
def test_the_admin_index_shows_the_sandbox_mode(db, client, settings, changes, shown):
    sandbox_settings(settings, **changes)
    client.force_login(User.objects.create_superuser("ops@portal.test"))
    page = client.get("/admin/").content.decode()
    assert f"Shell command sandbox: <strong>{shown}</strong>" in page
    if shown == "unavailable":
        assert "shell commands are refused" in page and "/nonexistent/bwrap" in page


@pytest.mark.parametrize(("changes", "banner"), [
    ({}, "Sandbox:    bubblewrap"),
    ({"BWRAP": "/nonexistent/bwrap"}, "Sandbox:    unavailable, shell commands will be refused"),
    ({"SANDBOX": "off"}, "Sandbox:    off"),
])
def test_the_demo_banner_says_which_sandbox_mode_is_on(db, capsys, settings, changes, banner):
    sandbox_settings(settings, **changes)
    call_command("demo")
    assert banner in capsys.readouterr().out


def test_an_unknown_sandbox_setting_is_refused_at_start(tmp_path):
    env = {**os.environ, "JOBPORTAL_SANDBOX": "maybe", "JOBPORTAL_DATA_DIR": str(tmp_path),
           "DJANGO_SETTINGS_MODULE": "jobportal.settings"}
    out = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "JOBPORTAL_SANDBOX must be 'bubblewrap' or 'off'" in out.stderr


def test_healthz_answers_503_when_the_database_is_unreachable(tmp_path):
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
           "JOBPORTAL_DATA_DIR": str(tmp_path)}
    code = (
        "import django; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/healthz'); print(r.status_code, r.json()['status'])"
    )
    out = subprocess.run([sys.executable, "-c", code], env={
        **env, "DJANGO_SETTINGS_MODULE": "jobportal.settings"}, capture_output=True, text=True,
        timeout=60, check=True)
    assert out.stdout.split() == ["503", "unavailable"]


def test_unknown_api_path_is_a_404_problem(db, client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_wrong_method_is_a_405_problem(member):
    response = member.client.delete("/api/v1/me")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["title"] == "Method Not Allowed"


def test_every_api_response_carries_rate_limit_headers(member):
    response = member.client.get("/api/v1/me")
    assert response["X-RateLimit-Limit"] == "5000"
    assert response["X-RateLimit-Remaining"] == "4999"


def test_going_over_the_rate_limit_is_a_429_problem_with_retry_after(member):
    Account.objects.filter(pk=member.account.pk).update(api_rate_limit=2)
    assert member.client.get("/api/v1/me").status_code == 200
    assert member.client.get("/api/v1/me").status_code == 200
    response = member.client.get("/api/v1/me")
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert int(response["Retry-After"]) >= 1
    assert response["X-RateLimit-Remaining"] == "0"


def test_rate_limit_is_per_account(member, outsider):
    Account.objects.filter(pk=member.account.pk).update(api_rate_limit=1)
    member.client.get("/api/v1/me")
    assert member.client.get("/api/v1/me").status_code == 429
    assert outsider.client.get("/api/v1/me").status_code == 200


def test_unhandled_errors_are_a_500_problem_without_traceback(member, monkeypatch):
    from accounts.api import views

    def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(views.policy, "effective_permissions", explode)
    member.client.raise_request_exception = False
    response = member.client.get("/api/v1/me")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    assert "secret internal detail" not in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_openapi_schema_builds_and_validates_without_warnings(tmp_path):
    """``spectacular --validate --fail-on-warn``: any warning or invalid part fails it."""
    out = tmp_path / "schema.yaml"
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn",
         "--file", str(out)],
        env={**os.environ, "JOBPORTAL_DATA_DIR": str(tmp_path)}, capture_output=True,
        text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    schema = out.read_text()
    assert "/api/v1/me/:" in schema and "/api/v1/tokens/:" in schema


def test_schema_and_docs_are_served_from_local_assets(db, client):
    assert client.get("/api/schema/").status_code == 200
    for url in ("/api/docs/", "/api/redoc/"):
        html = client.get(url).content.decode()
        assert "drf_spectacular_sidecar" in html
        assert "cdn." not in html and "unpkg" not in html


def test_createaccount_prints_the_token_alone_on_the_last_line(db, capsys):
    call_command("createaccount", "initech", "--admin", "boss@initech.test", "--token")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("jp_") and " " not in last
    assert client_for(last).get("/api/v1/me").json()["account"]["slug"] == "initech"
    membership = Membership.objects.get(account__slug="initech")
    assert list(membership.groups.values_list("name", flat=True)) == ["system-admin"]


def test_createaccount_refuses_a_duplicate_slug(account):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="exists"):
        call_command("createaccount", "acme", "--admin", "x@acme.test")


def test_demo_command_prints_login_and_a_working_token(db, capsys):
    call_command("demo")
    out = capsys.readouterr().out
    token = out.split("API token:")[1].split()[0]
    assert client_for(token).get("/api/v1/me").status_code == 200
    call_command("demo")
    assert ApiToken.objects.usable().filter(membership__account__slug="demo").count() == 1


def test_deploy_check_is_clean_with_production_settings(tmp_path):
    env = {
        **os.environ, "DJANGO_SECRET_KEY": "x" * 64 + "production-grade-secret-key-value",
        "JOBPORTAL_HTTPS": "1", "DJANGO_ALLOWED_HOSTS": "jobs.example.com",
        "JOBPORTAL_DATA_DIR": str(tmp_path), "DJANGO_DEBUG": "0",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_secret_key_can_come_from_a_file(tmp_path):
    secret = tmp_path / "key"
    secret.write_text("from-a-file-" + "k" * 50 + "\n")
    env = {**os.environ, "DJANGO_SECRET_KEY_FILE": str(secret),
           "JOBPORTAL_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "jobportal.settings"}
    env.pop("DJANGO_SECRET_KEY", None)
    out = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.SECRET_KEY)"],
        env=env, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "from-a-file-" + "k" * 50


def test_debug_is_off_by_default(tmp_path):
    env = {**os.environ, "JOBPORTAL_DATA_DIR": str(tmp_path),
           "DJANGO_SETTINGS_MODULE": "jobportal.settings"}
    env.pop("DJANGO_DEBUG", None)
    out = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.DEBUG)"],
        env=env, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
