"""The front door, signing in, tokens, the account switcher, datasets and saved queries,
through Django's test client."""

import pytest
from django.test import Client

from accounts.models import ApiToken, AuditEvent
from jobs import lifecycle
from tests.pages.helpers import browser

# --- the front door and signing in ----------------------------------------------------------


def test_the_root_sends_an_anonymous_visitor_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/commands/"


def test_the_root_sends_a_member_to_the_history(member):
    response = browser(member).get("/")
    assert response.status_code == 302 and response["Location"] == "/commands/"


@pytest.mark.parametrize("path", ["/commands/", "/commands/new/", "/commands/queue/",
                                  "/commands/1/", "/datasets/", "/saved-queries/",
                                  "/accounts/tokens/", "/accounts/password/"])
def test_every_page_sends_an_anonymous_visitor_to_the_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/accounts/login/?next={path}")


def test_the_root_sends_an_operator_without_an_account_to_the_admin(client, django_user_model):
    operator = django_user_model.objects.create_user("ops@example.test", is_staff=True)
    client.force_login(operator)
    assert client.get("/")["Location"] == "/admin/"


def test_the_root_tells_a_user_without_an_account_why_not_404(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("loner@example.test"))
    response = client.get("/")
    assert response.status_code == 403
    assert b"not a member of any active account" in response.content


def test_logging_in_with_email_and_password_leads_to_the_history(client, member):
    member.user.set_password("correct horse battery")
    member.user.save()
    page = client.get("/accounts/login/")
    assert b'<label for="id_username">Email</label>' in page.content
    response = client.post("/accounts/login/", {"username": "member@acme.test",
                                                "password": "correct horse battery"})
    assert response.status_code == 302 and response["Location"] == "/commands/"
    assert client.get("/commands/").status_code == 200


def test_a_wrong_password_is_refused_on_the_login_page(client, member):
    response = client.post("/accounts/login/", {"username": "member@acme.test",
                                                "password": "nope"})
    assert response.status_code == 200
    assert b'role="alert"' in response.content and b"correct email" in response.content


def test_logout_ends_the_session(member):
    client = browser(member)
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/commands/").status_code == 302


def test_password_change_takes_the_old_and_the_new_password(member):
    member.user.set_password("old password 123")
    member.user.save()
    client = browser(member)
    response = client.post("/accounts/password/", {
        "old_password": "old password 123", "new_password1": "a new one 456 xyz",
        "new_password2": "a new one 456 xyz"})
    assert response.status_code == 302
    member.user.refresh_from_db()
    assert member.user.check_password("a new one 456 xyz")


def test_a_user_without_any_account_gets_404_not_the_pages(client, django_user_model):
    loner = django_user_model.objects.create_user("loner@nowhere.test")
    client.force_login(loner)
    assert client.get("/commands/").status_code == 404


# --- tokens and accounts --------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_works_for_the_api(member):
    client = browser(member)
    response = client.post("/accounts/tokens/", {"name": "script"})
    page = response.content.decode()
    secret = page.split('id="new-token">')[1].split("<")[0]
    assert response["Cache-Control"] == "no-store"
    assert Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    assert secret not in client.get("/accounts/tokens/").content.decode()
    assert AuditEvent.objects.filter(action="tokens.create").exists()


def test_tokens_list_only_ones_own_and_revoke_only_ones_own(member, admin):
    theirs = ApiToken.objects.filter(membership=admin.membership).get()
    client = browser(member)
    page = client.get("/accounts/tokens/").content.decode()
    assert theirs.prefix not in page and "test" in page
    assert client.post(f"/accounts/tokens/{theirs.pk}/revoke/").status_code == 404
    mine = ApiToken.objects.filter(membership=member.membership).get()
    client.post(f"/accounts/tokens/{mine.pk}/revoke/")
    mine.refresh_from_db()
    assert mine.revoked_at is not None


def test_the_account_switcher_changes_the_account_the_pages_show(member, other_account):
    from accounts.models import SYSTEM_USER, Group, Membership

    second = Membership.objects.create(account=other_account, user=member.user)
    second.groups.add(Group.objects.get(account=other_account, name=SYSTEM_USER))
    theirs = lifecycle.submit(account=other_account, user=member.user, source="api",
                              command_type="shell", script="echo globex", name="in-globex")
    client = browser(member)
    page = client.get("/commands/").content.decode()
    assert 'id="account-switch"' in page and "in-globex" not in page
    client.post("/accounts/switch/", {"account": str(other_account.pk)})
    assert "in-globex" in client.get("/commands/").content.decode()
    assert client.get(f"/commands/{theirs.pk}/").status_code == 200
    assert client.post("/accounts/switch/", {"account": "999999"}).status_code == 404


# --- datasets and saved queries --------------------------------------------------------------


@pytest.mark.parametrize(("who", "code"), [("admin", 200), ("member", 200), ("reader", 200)])
def test_data_pages_answer_the_account(actors, who, code):
    for path in ("/datasets/", "/saved-queries/"):
        assert browser(actors[who]).get(path).status_code == code


def test_a_saved_query_of_another_account_is_404(member, outsider):
    from jobs.models import SavedQuery

    saved = SavedQuery.objects.create(account=outsider.account, name="q", sql="SELECT 1")
    assert browser(member).get(f"/saved-queries/{saved.pk}/").status_code == 404
    assert browser(outsider).get(f"/saved-queries/{saved.pk}/").status_code == 200


def test_uploading_a_dataset_from_the_page_registers_it(member):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("sales.csv", b"region,amount\nNorth,3\nSouth,4\n")
    response = browser(member).post("/datasets/", {"name": "sales", "file": upload})
    assert response.status_code == 302
    page = browser(member).get(response["Location"]).content.decode()
    assert "<code>region</code>" in page and "<dd>2</dd>" in page


def test_a_reader_sees_no_upload_form_and_may_not_upload(reader):
    assert b'enctype="multipart/form-data"' not in browser(reader).get("/datasets/").content
    assert browser(reader).post("/datasets/", {"name": "x"}).status_code == 403


def test_editing_a_saved_query_makes_a_new_version(member):
    from jobs.models import SavedQuery

    saved = SavedQuery.objects.create(account=member.account, name="q", sql="SELECT 1",
                                      created_by=member.user)
    response = browser(member).post(f"/saved-queries/{saved.pk}/edit/", {
        "name": "q", "description": "", "sql": "SELECT 2"})
    assert response.status_code == 302
    saved.refresh_from_db()
    assert (saved.sql, saved.version) == ("SELECT 2", 2)


def test_a_new_saved_query_is_checked_like_the_api_and_created(member):
    client = browser(member)
    bad = client.post("/saved-queries/", {"name": "q", "sql": "SELECT :day",
                                          "parameters": ""})
    assert bad.status_code == 400
    assert ":day" in bad.content.decode()
    response = client.post("/saved-queries/", {
        "name": "by day", "sql": "SELECT :day AS d",
        "parameters": '[{"name": "day", "type": "date"}]'})
    from jobs.models import SavedQuery

    saved = SavedQuery.objects.get()
    assert response["Location"] == f"/saved-queries/{saved.pk}/"
    assert (saved.created_by, saved.parameters[0]["type"]) == (member.user, "date")
    assert AuditEvent.objects.filter(action="saved_queries.create").exists()


def test_a_reader_may_not_create_a_saved_query(reader):
    assert b"New saved query" not in browser(reader).get("/saved-queries/").content
    assert browser(reader).post("/saved-queries/", {"name": "q", "sql": "SELECT 1"}
                                ).status_code == 403


def test_a_datasets_preview_opens_the_sql_form_with_its_query(member):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("sales.csv", b"region,amount\nNorth,3\n")
    client = browser(member)
    dataset_page = client.get(client.post("/datasets/", {"name": "sales", "file": upload}
                                          )["Location"]).content.decode()
    link = dataset_page.split('id="preview" href="')[1].split('"')[0].replace("&amp;", "&")
    form = client.get(link).content.decode()
    assert "SELECT * FROM sales LIMIT 100</textarea>" in form


def test_a_dataset_page_shows_its_first_rows_to_a_reader(member, reader):
    from django.core.files.uploadedfile import SimpleUploadedFile

    lines = "".join(f"r{i},{i}\n" for i in range(30))
    upload = SimpleUploadedFile("sales.csv", f"region,amount\n{lines}".encode())
    location = browser(member).post("/datasets/", {"name": "sales", "file": upload})["Location"]
    page = browser(reader).get(location).content.decode()  # a reader may not submit SQL
    table = page.split('id="preview-rows"')[1].split("</table>")[0]
    assert "The first 20 of 30 rows" in table
    assert "<td>r0</td><td>0</td>" in table and "<td>r19</td>" in table
    assert "<td>r20</td>" not in table and 'id="preview"' not in page


def test_a_member_may_edit_only_their_own_saved_queries(admin, member):
    from jobs.models import SavedQuery

    theirs = SavedQuery.objects.create(account=admin.account, name="admins", sql="SELECT 1",
                                       created_by=admin.user)
    client = browser(member)
    assert b"Save as a new version" not in client.get(f"/saved-queries/{theirs.pk}/").content
    response = client.post(f"/saved-queries/{theirs.pk}/edit/", {"name": "x", "sql": "SELECT 2"})
    assert response.status_code == 403
    theirs.refresh_from_db()
    assert (theirs.sql, theirs.version) == ("SELECT 1", 1)


def test_an_unreadable_upload_is_refused_with_the_reason_and_nothing_registered(member):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from jobs.models import Dataset

    upload = SimpleUploadedFile("empty.csv", b"")
    response = browser(member).post("/datasets/", {"name": "empty", "file": upload})
    assert response.status_code == 400
    assert 'class="error"' in response.content.decode()
    assert not Dataset.objects.exists()


def test_a_dataset_is_renamed_where_the_role_allows_and_clashes_are_named(admin, reader):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from jobs.models import Dataset

    client = browser(admin)
    for name in ("sales", "costs"):
        client.post("/datasets/", {"name": name, "file": SimpleUploadedFile(
            f"{name}.csv", b"a,b\n1,2\n")})
    sales = Dataset.objects.get(name="sales")
    clash = client.post(f"/datasets/{sales.pk}/", {"name": "COSTS", "description": ""})
    assert clash.status_code == 400 and "already exists" in clash.content.decode()
    assert client.post(f"/datasets/{sales.pk}/", {"name": "revenue", "description": "q4"}
                       ).status_code == 302
    sales.refresh_from_db()
    assert (sales.name, sales.description) == ("revenue", "q4")
    assert browser(reader).post(f"/datasets/{sales.pk}/", {"name": "x"}).status_code == 403
