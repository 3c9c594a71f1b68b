"""The data API: data sources, datasets and saved queries, against all four actors, and the
SQL fields of command submission. No worker runs here (see test_sql_end_to_end)."""

from pathlib import Path

import pytest
from django.conf import settings as django_settings

from jobs.models import Command, DataSource, SavedQuery
from tests.jobs.test_sql_support import (
    submit_sql,
    use_data_source_root,
    use_media_root,
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    use_media_root(settings, tmp_path)
    return tmp_path / "media"


@pytest.fixture(autouse=True)
def data_sources(settings, tmp_path):
    """The data source root; acme's files go in acme/, globex's in globex/."""
    use_data_source_root(settings, tmp_path)
    return tmp_path / "data-sources"


@pytest.fixture
def sqlite_path(data_sources):
    path = data_sources / "acme" / "data.sqlite3"
    path.touch()
    return str(path)


@pytest.fixture
def source(admin, sqlite_path):
    return DataSource.objects.create(account=admin.account, name="warehouse", engine="sqlite",
                                     target=sqlite_path, created_by=admin.user)


# -- data sources ----------------------------------------------------------------------------


def test_a_new_account_lists_its_built_in_source(member):
    body = member.client.get("/api/v1/data-sources/").json()
    assert [(s["name"], s["engine"], s["is_default"]) for s in body["results"]] == [
        ("default", "duckdb", True)]


def test_the_target_is_accepted_but_never_shown_again(admin, sqlite_path):
    dsn = "postgresql://reporting:s3cret-pw@db.internal:5432/sales"
    created = admin.client.post("/api/v1/data-sources/", {
        "name": "sales_pg", "engine": "postgresql", "target": dsn}, format="json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    for response in (created, admin.client.get(f"/api/v1/data-sources/{pk}/"),
                     admin.client.get("/api/v1/data-sources/")):
        assert "s3cret-pw" not in response.content.decode()
        assert "db.internal" not in response.content.decode()
    assert admin.client.get(f"/api/v1/data-sources/{pk}/").json()["has_target"] is True
    assert DataSource.objects.get(pk=pk).target == dsn


def test_the_admin_never_renders_a_target(admin, source, client):
    import jobs.admin_data  # noqa: F401  (registers the models if jobs.admin is not there yet)

    admin.user.is_staff = admin.user.is_superuser = True
    admin.user.save()
    client.force_login(admin.user)
    page = client.get(f"/admin/jobs/datasource/{source.pk}/change/")
    assert page.status_code == 200
    assert source.target not in page.content.decode()


def test_view_only_staff_never_see_a_target(admin, source, client):
    from django.contrib.auth.models import Permission

    admin.user.is_staff = True
    admin.user.save()
    admin.user.user_permissions.add(Permission.objects.get(codename="view_datasource"))
    client.force_login(admin.user)
    page = client.get(f"/admin/jobs/datasource/{source.pk}/change/")
    assert page.status_code == 200
    assert source.name in page.content.decode()
    assert source.target not in page.content.decode()


@pytest.mark.parametrize("target", [
    "relative/path.sqlite3",
    str(Path(django_settings.BASE_DIR) / "var" / "jobportal.sqlite3"),
])
def test_file_targets_outside_the_rules_are_refused(admin, target):
    response = admin.client.post("/api/v1/data-sources/", {
        "name": "bad", "engine": "sqlite", "target": target}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["target"]


def test_a_malformed_dsn_is_refused_without_echoing_it(admin):
    response = admin.client.post("/api/v1/data-sources/", {
        "name": "bad", "engine": "postgresql", "target": "host=x password='unterminated"},
        format="json")
    assert response.status_code == 400
    assert "unterminated" not in response.content.decode()


def test_the_name_default_is_reserved(admin, sqlite_path):
    response = admin.client.post("/api/v1/data-sources/", {
        "name": "default", "engine": "sqlite", "target": sqlite_path}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["name"]


def test_the_built_in_source_cannot_be_changed_or_deleted(admin):
    builtin = DataSource.objects.default_for(admin.account)
    url = f"/api/v1/data-sources/{builtin.pk}/"
    assert admin.client.patch(url, {"description": "x"}, format="json").status_code == 409
    assert admin.client.delete(url).status_code == 409


def test_a_source_in_use_by_a_saved_query_cannot_be_deleted(admin, source):
    SavedQuery.objects.create(account=admin.account, name="q", sql="SELECT 1",
                              data_source=source)
    assert admin.client.delete(f"/api/v1/data-sources/{source.pk}/").status_code == 409
    assert DataSource.objects.filter(pk=source.pk).exists()


SOURCE_ACCESS = {  # list, detail, create, update, delete on acme's source
    "admin": (200, 200, 201, 200, 204),
    "member": (200, 200, 403, 403, 403),
    "reader": (200, 200, 403, 403, 403),
    "outsider": (200, 404, 201, 404, 404),
}


@pytest.mark.parametrize("who", list(SOURCE_ACCESS))
def test_data_source_access(actors, source, data_sources, who):
    client, url = actors[who].client, f"/api/v1/data-sources/{source.pk}/"
    other = data_sources / actors[who].account.slug / f"{who}.sqlite3"
    listed = client.get("/api/v1/data-sources/")
    statuses = (
        listed.status_code, client.get(url).status_code,
        client.post("/api/v1/data-sources/", {"name": "more", "engine": "sqlite",
                                              "target": str(other)}, format="json").status_code,
        client.patch(url, {"description": "changed"}, format="json").status_code,
        client.delete(url).status_code,
    )
    assert statuses == SOURCE_ACCESS[who]
    names = {s["name"] for s in listed.json()["results"]}
    assert ("warehouse" in names) == (who != "outsider")


def test_listing_data_sources_takes_a_fixed_number_of_queries(admin, data_sources,
                                                               warm_process,
                                                               django_assert_num_queries):
    for n in range(12):
        DataSource.objects.create(account=admin.account, name=f"s{n}", engine="sqlite",
                                  target=str(data_sources / "acme" / f"{n}.db"),
                                  created_by=admin.user)
    warm_process(admin)
    admin.client.get("/api/v1/data-sources/")
    with django_assert_num_queries(2):  # the built-in source, the page
        body = admin.client.get("/api/v1/data-sources/").json()
    assert len(body["results"]) == 13


# -- SQL fields of command submission ---------------------------------------------------------


def test_a_sql_command_without_a_source_runs_on_the_built_in_one(member):
    response = submit_sql(member, "SELECT :x AS x", parameters={"x": "it's a value"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["data_source"] == DataSource.objects.get(account=member.account,
                                                         is_default=True).pk
    assert body["parameters"] == {"x": "it's a value"}
    for field in ("result_columns", "result_row_count", "result_truncated", "statements_done",
                  "statements_total", "saved_query", "saved_query_version"):
        assert field in body


def test_a_source_is_named_by_id_or_by_name(member, source):
    by_name = submit_sql(member, "SELECT 1", data_source="warehouse").json()
    by_id = submit_sql(member, "SELECT 1", data_source=source.pk).json()
    assert by_name["data_source"] == by_id["data_source"] == source.pk


@pytest.mark.parametrize("ref", ["by_id", "by_name", "unknown"])
def test_a_source_of_another_account_is_a_400(member, outsider, data_sources, ref):
    theirs = DataSource.objects.create(account=outsider.account, name="theirs",
                                       engine="sqlite",
                                       target=str(data_sources / "globex" / "t.db"))
    value = {"by_id": theirs.pk, "by_name": "theirs", "unknown": "nothing_here"}[ref]
    response = submit_sql(member, "SELECT 1", data_source=value)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["data_source"]
    assert not Command.objects.exists()


def test_a_placeholder_without_a_value_is_a_400_naming_it(member):
    response = submit_sql(member, "SELECT * FROM t WHERE a = :a AND b = :b", parameters={"a": 1})
    assert response.status_code == 400
    assert response.json()["errors"] == {"parameters": ["b: is used in the SQL (:b) but has no "
                                                        "value"]}


@pytest.mark.parametrize("field", [{"data_source": "default"}, {"parameters": {"a": 1}}])
def test_sql_fields_on_a_shell_command_are_a_400(member, field):
    response = member.client.post("/api/v1/commands/", {"command_type": "shell",
                                                        "script": "true", **field}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == list(field)
