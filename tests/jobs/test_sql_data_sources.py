"""Where data sources may point, checked on save and again when a command runs: file targets
inside their account's own directory only, PostgreSQL hosts from the allow-list only, and
connection failures that tell the caller nothing about the network. Commands run in this
process through the real supervisor (``jobs.worker.run.run_command``)."""

import logging

import pytest

from jobs import targets
from jobs.logs import read_log
from jobs.models import Command, DataSource, Status
from jobs.worker import run as worker_run
from tests.jobs.test_sql_support import (
    sqlite_file,
    submit_sql,
    submitted,
    use_data_source_root,
    use_media_root,
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    use_media_root(settings, tmp_path)


@pytest.fixture
def root(settings, tmp_path):
    use_data_source_root(settings, tmp_path)
    return tmp_path / "data-sources"


def create(actor, engine, target, name="src"):
    return actor.client.post("/api/v1/data-sources/", {
        "name": name, "engine": engine, "target": str(target)}, format="json")


def refused_target(response):
    assert response.status_code == 400, response.json()
    assert list(response.json()["errors"]) == ["target"]
    return response.json()["errors"]["target"][0]


def run_here(actor, query, data_source):
    pk = submitted(submit_sql(actor, query, data_source=data_source))
    worker_run.run_command(pk)
    return Command.objects.get(pk=pk)


def stderr_of(command):
    return read_log(command.pk, 0, 1024 * 1024, stream="stderr").data.decode()


def with_jobportal(settings, **changes):
    settings.JOBPORTAL = {**settings.JOBPORTAL, **changes}


# -- file targets ------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_a_file_in_the_accounts_own_directory_is_accepted(admin, root, engine):
    (root / "acme" / "sub").mkdir()
    assert create(admin, engine, root / "acme" / "sub" / "data.db").status_code == 201


@pytest.mark.parametrize("target", ["/etc/passwd", "{root}/globex/theirs.sqlite3",
                                    "{root}/acme/../globex/theirs.sqlite3", "{root}/acme",
                                    "{root}/acme-other/x.sqlite3", "relative.sqlite3"])
def test_a_file_outside_the_accounts_own_directory_is_refused(admin, root, target):
    sqlite_file(root / "globex" / "theirs.sqlite3")
    message = refused_target(create(admin, "sqlite", target.format(root=root)))
    assert f"{root / 'acme'}/" in message


def test_a_symlink_out_of_the_accounts_directory_is_refused(admin, root):
    theirs = sqlite_file(root / "globex" / "theirs.sqlite3")
    (root / "acme" / "innocent.sqlite3").symlink_to(theirs)
    message = refused_target(create(admin, "sqlite", root / "acme" / "innocent.sqlite3"))
    assert f"{root / 'acme'}/" in message
    assert not DataSource.objects.filter(name="src").exists()


def test_a_symlink_swapped_after_saving_is_refused_when_the_command_runs(admin, member, root):
    mine = root / "acme" / "mine.sqlite3"
    sqlite_file(mine)
    assert create(admin, "sqlite", mine, name="mine").status_code == 201
    theirs = sqlite_file(root / "globex" / "theirs.sqlite3")
    mine.unlink()
    mine.symlink_to(theirs)

    command = run_here(member, "SELECT count(*) FROM people", "mine")

    assert (command.status, command.error_type) == (Status.ERROR, "ConnectionError")
    assert "Must be a file in this account's data source directory" in command.error_message


def test_the_portals_own_directories_stay_refused_inside_an_account_directory(admin, root,
                                                                              settings):
    settings.MEDIA_ROOT = str(root / "acme" / "uploads")  # an operator's unlucky layout
    refused = refused_target(create(admin, "sqlite", root / "acme" / "uploads" / "x.sqlite3"))
    assert "portal's own" in refused


def test_the_default_root_is_the_data_directory_s_data_sources(settings, account):
    assert targets.account_directory(account) == (
        settings.DATA_DIR / "data-sources" / "acme").resolve()


# -- PostgreSQL hosts ----------------------------------------------------------------------


@pytest.mark.parametrize("dsn", [
    "postgresql://u:p@db.internal/sales", "host=DB.Internal dbname=sales user=u",
    "postgresql://u:p@db.internal:5432,replica.internal:5433/sales",
])
def test_a_dsn_naming_allowed_hosts_is_accepted(admin, settings, dsn):
    with_jobportal(settings, POSTGRES_HOSTS=["db.internal", "replica.internal"])
    assert create(admin, "postgresql", dsn).status_code == 201


@pytest.mark.parametrize("dsn", [
    "postgresql://u:secret-pw@10.0.0.5:5432/sales",
    "postgresql://u:secret-pw@db.internal,10.0.0.5/sales",
    "host=db.internal hostaddr=10.0.0.5 dbname=sales password=secret-pw",
    "dbname=sales user=u password=secret-pw",  # no host: PGHOST or a local socket
    "service=warehouse password=secret-pw",
])
def test_a_dsn_naming_other_hosts_is_refused_without_echoing_it(admin, settings, dsn):
    with_jobportal(settings, POSTGRES_HOSTS=["db.internal"])
    message = refused_target(create(admin, "postgresql", dsn))
    assert "secret-pw" not in message and "10.0.0.5" not in message


def test_any_host_is_accepted_when_no_list_is_set(admin, settings):
    with_jobportal(settings, POSTGRES_HOSTS=[])
    assert create(admin, "postgresql", "postgresql://u:p@anywhere.example/x").status_code == 201


def test_a_host_taken_off_the_list_is_refused_when_the_command_runs(admin, member, settings):
    with_jobportal(settings, POSTGRES_HOSTS=["127.0.0.1"])
    assert create(admin, "postgresql", "postgresql://u:p@127.0.0.1:1/x",
                  name="pg").status_code == 201
    with_jobportal(settings, POSTGRES_HOSTS=["db.internal"])

    command = run_here(member, "SELECT 1", "pg")

    assert (command.status, command.error_type) == (Status.ERROR, "ConnectionError")
    assert "JOBPORTAL_POSTGRES_HOSTS" in command.error_message


# -- what a failed connection tells the caller -------------------------------------------------


def test_a_refused_connection_tells_the_caller_nothing_about_the_network(admin, member,
                                                                         caplog):
    DataSource.objects.create(account=admin.account, name="scan", engine="postgresql",
                              target="postgresql://nobody:pw@127.0.0.1:1/x")
    with caplog.at_level(logging.WARNING, logger="jobs.worker.sql"):
        command = run_here(member, "SELECT 1", "scan")

    assert (command.status, command.error_type) == (Status.ERROR, "ConnectionError")
    for text in (command.error_message, stderr_of(command)):
        assert "could not connect to the PostgreSQL server" in text
        for leak in ("127.0.0.1", "port 1", "refused"):
            assert leak not in text
    assert f"command {command.pk}" in command.error_message
    logged = [r.getMessage() for r in caplog.records if f"command {command.pk}:" in r.getMessage()]
    assert any("127.0.0.1" in line and "refused" in line for line in logged)


def test_the_obsolete_global_directory_list_is_flagged_by_the_system_checks(monkeypatch):
    from django.core import checks

    monkeypatch.setenv("JOBPORTAL_DATA_SOURCE_DIRS", "/srv/data")
    assert "jobs.W001" in [message.id for message in checks.run_checks(tags=["security"])]
