"""SQL commands end to end: submitted through the API, run by real worker processes against a
real SQLite file, a real PostgreSQL database and DuckDB over uploaded files."""

from datetime import timedelta
from pathlib import Path

import pytest

from jobs.models import Command, Dataset, DataSource, Status
from tests.jobs.conftest import wait_for
from tests.jobs.test_sql_support import (
    PEOPLE,
    csv_bytes,
    finished,
    parquet_bytes,
    pg_database,
    pg_rows,
    rows_of,
    run_queued,
    sqlite_file,
    sqlite_rows,
    submit_sql,
    submitted,
    upload,
    use_data_source_root,
    use_media_root,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def worker_media(settings, tmp_path):
    """The worker's environment for this test's uploads and data source files."""
    return {**use_media_root(settings, tmp_path), **use_data_source_root(settings, tmp_path)}


@pytest.fixture
def sqlite_source(admin, tmp_path, worker_media):
    path = sqlite_file(tmp_path / "data-sources" / "acme" / "people.sqlite3")
    response = admin.client.post("/api/v1/data-sources/", {
        "name": "people_db", "engine": "sqlite", "target": path}, format="json")
    assert response.status_code == 201, response.json()
    return {"id": response.json()["id"], "path": path}


@pytest.fixture
def pg_source(admin):
    with pg_database() as database:
        response = admin.client.post("/api/v1/data-sources/", {
            "name": "people_pg", "engine": "postgresql", "target": database["user_dsn"]},
            format="json")
        assert response.status_code == 201, response.json()
        yield {"id": response.json()["id"], **database}


@pytest.fixture
def people_dataset(member, worker_media):
    response = upload(member, "people", "people.csv",
                      csv_bytes(["id", "name", "age"], PEOPLE))
    assert response.status_code == 201, response.json()
    return Dataset.objects.get(pk=response.json()["id"])


def result(actor, pk):
    body = actor.client.get(f"/api/v1/commands/{pk}/results/").json()
    return [c["name"] for c in body["columns"]], body["rows"]


def test_select_1_works_in_a_brand_new_account(member, start_worker, worker_media):
    pk = submitted(submit_sql(member, "SELECT 1 AS one"))
    run_queued(start_worker, worker_media)

    command = Command.objects.get(pk=pk)
    assert (command.status, command.error_message) == (Status.DONE, "")
    assert command.data_source == DataSource.objects.get(account=member.account, is_default=True)
    assert (command.statements_done, command.statements_total, command.progress) == (1, 1, 100)
    assert (command.result_row_count, command.result_truncated) == (1, False)
    assert result(member, pk) == (["one"], [[1]])


def test_a_sqlite_file_is_queried_with_bound_parameters(member, sqlite_source, start_worker,
                                                         worker_media):
    pk = submitted(submit_sql(member, "SELECT name, age FROM people WHERE age > :min ORDER BY id",
                              data_source="people_db", parameters={"min": 30}))
    run_queued(start_worker, worker_media)

    assert finished(pk).status == Status.DONE
    assert result(member, pk) == (["name", "age"], [["alice", 31], ["carol", 45]])
    assert Command.objects.get(pk=pk).parameters == {"min": 30}


def test_postgresql_is_queried_with_the_sources_own_credentials(member, pg_source, start_worker,
                                                                 worker_media):
    pk = submitted(submit_sql(member, "SELECT current_user AS who, count(*) AS n FROM people",
                              data_source=pg_source["id"]))
    run_queued(start_worker, worker_media)

    assert finished(pk).status == Status.DONE, Command.objects.get(pk=pk).error_message
    columns, rows = result(member, pk)
    assert columns == ["who", "n"]
    assert rows[0][0].endswith("_user") and rows[0][1] == 3


def test_duckdb_joins_an_uploaded_csv_and_an_uploaded_parquet_by_name(
        member, people_dataset, start_worker, worker_media):
    response = upload(member, "Cities", "cities.parquet", parquet_bytes(
        {"person_id": [1, 3], "city": ["Oslo", "Lima"]}))
    assert response.status_code == 201, response.json()
    assert response.json()["row_count"] == 2
    pk = submitted(submit_sql(member, "SELECT p.name, c.city FROM people p "
                                      "JOIN cities c ON c.person_id = p.id ORDER BY p.id"))
    run_queued(start_worker, worker_media)

    assert finished(pk).status == Status.DONE, Command.objects.get(pk=pk).error_message
    assert result(member, pk) == (["name", "city"], [["alice", "Oslo"], ["carol", "Lima"]])


def test_a_script_reports_statements_done_of_total_and_returns_the_last_result(
        member, start_worker, worker_media):
    pk = submitted(submit_sql(member, "SELECT 1; SELECT 2; SELECT 42 AS answer"))
    run_queued(start_worker, worker_media)

    command = finished(pk)
    assert (command.statements_done, command.statements_total) == (3, 3)
    assert result(member, pk) == (["answer"], [[42]])


def test_macros_resolve_into_the_text_and_parameters_stay_values(
        member, sqlite_source, start_worker, worker_media):
    pk = submitted(submit_sql(member, "SELECT $column$ FROM people WHERE id = :id",
                              data_source="people_db", macros=[{"column": "name"}],
                              parameters={"id": 2}))
    run_queued(start_worker, worker_media)

    command = finished(pk)
    assert command.resolved_macros == {"column": "name"}
    assert command.query == "SELECT name FROM people WHERE id = :id"
    assert result(member, pk) == (["name"], [["bob"]])


HOSTILE = ["x' OR '1'='1", "'; DROP TABLE people; --", "1 OR 1=1"]


def test_a_parameter_holding_sql_stays_a_value(member, sqlite_source, start_worker,
                                               worker_media):
    ids = [submitted(submit_sql(member, "SELECT count(*) AS n FROM people WHERE name = :name",
                                data_source="people_db", parameters={"name": value}))
           for value in HOSTILE]
    run_queued(start_worker, worker_media)

    for pk in ids:
        assert finished(pk).status == Status.DONE
        assert rows_of(member, pk) == [[0]]
    assert sqlite_rows(sqlite_source["path"]) == (["people"], PEOPLE)


WRITES = {
    "sqlite": ["INSERT INTO people VALUES (9, 'mallory', 1)", "UPDATE people SET age = 0",
               "CREATE TABLE t2 (x int)", "DROP TABLE people",
               "ATTACH DATABASE '/tmp/jp-escape.sqlite3' AS other"],
    "postgresql": ["INSERT INTO people VALUES (9, 'mallory', 1)", "UPDATE people SET age = 0",
                   "CREATE TABLE t2 (x int)", "DROP TABLE people",
                   "COMMIT; INSERT INTO people VALUES (9, 'mallory', 1)"],
    "duckdb": ["INSERT INTO people VALUES (9, 'mallory', 1)", "UPDATE people SET age = 0",
               "CREATE TABLE t2 AS SELECT 1", "DROP VIEW people",
               "COPY (SELECT 1) TO '/tmp/jp-escape.csv'"],
}


def test_writes_are_refused_on_every_engine_and_the_data_is_unchanged(
        member, sqlite_source, pg_source, people_dataset, start_worker, worker_media):
    sources = {"sqlite": "people_db", "postgresql": "people_pg", "duckdb": "default"}
    stored = people_dataset.file.path
    before = Path(stored).read_bytes()
    ids = {(engine, sql): submitted(submit_sql(member, sql, data_source=sources[engine]))
           for engine, statements in WRITES.items() for sql in statements}
    run_queued(start_worker, worker_media)

    for (engine, sql), pk in ids.items():
        command = finished(pk)
        assert command.status == Status.ERROR, (engine, sql)
        assert command.error_type in ("ReadOnly", "QueryError"), (engine, sql, command.error_type)
    readonly = [key for key, pk in ids.items()
                if Command.objects.get(pk=pk).error_type == "ReadOnly"]
    assert len(readonly) >= len(ids) - 2  # DROP of a missing object may fail as a query error
    assert sqlite_rows(sqlite_source["path"]) == (["people"], PEOPLE)
    assert pg_rows(pg_source["owner_dsn"]) == ([("people",)], PEOPLE)
    assert Path(stored).read_bytes() == before


def test_duckdb_cannot_read_other_files_or_other_accounts_datasets(
        member, outsider, people_dataset, start_worker, worker_media):
    response = upload(outsider, "secret", "secret.csv", csv_bytes(["s"], [["globex-only"]]))
    assert response.status_code == 201
    other_file = Dataset.objects.get(pk=response.json()["id"]).file.path
    attempts = [
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_csv('{other_file}')",
        "SELECT * FROM secret",
        "INSTALL httpfs",
        "SELECT * FROM read_csv('https://example.com/x.csv')",
        "ATTACH '/tmp/jp-escape.duckdb' AS other",
    ]
    ids = [submitted(submit_sql(member, sql)) for sql in attempts]
    run_queued(start_worker, worker_media)

    for sql, pk in zip(attempts, ids, strict=True):
        command = finished(pk)
        assert command.status == Status.ERROR, sql
        assert "globex-only" not in command.error_message


def test_postgresql_server_files_stay_out_of_reach(member, pg_source, start_worker,
                                                  worker_media):
    pk = submitted(submit_sql(member, "SELECT pg_read_file('/etc/passwd')",
                              data_source="people_pg"))
    run_queued(start_worker, worker_media)

    command = finished(pk)
    assert (command.status, command.error_type) == (Status.ERROR, "QueryError")
    assert "permission denied" in command.error_message


def test_an_unreachable_source_is_a_connection_error_that_does_not_reveal_its_target(
        admin, member, tmp_path, start_worker, worker_media):
    missing = str(tmp_path / "data-sources" / "acme" / "gone" / "nothing.sqlite3")
    admin.client.post("/api/v1/data-sources/", {"name": "gone", "engine": "sqlite",
                                                "target": missing}, format="json")
    admin.client.post("/api/v1/data-sources/", {
        "name": "badpg", "engine": "postgresql",
        "target": "postgresql://nobody:hunter2secret@127.0.0.1:1/x"}, format="json")
    ids = [submitted(submit_sql(member, "SELECT 1", data_source=name))
           for name in ("gone", "badpg")]
    worker = start_worker("--once", env=worker_media)
    assert worker.wait(timeout=120) == 0

    for pk in ids:
        command = finished(pk)
        assert (command.status, command.error_type) == (Status.ERROR, "ConnectionError")
        assert "hunter2secret" not in command.error_message
        assert missing not in command.error_message
        assert "127.0.0.1" not in command.error_message
    # The network details are for the operator: in the worker's log, under the command id.
    worker_log = Path(worker.log_path).read_text()
    assert f'command {ids[1]}: the data source could not be opened: ' in worker_log
    assert '"127.0.0.1", port 1 failed' in worker_log


LONG = {
    "duckdb": "SELECT count(*) FROM range(1000000000) a, range(1000000000) b "
              "WHERE a.range <> b.range",
    "postgresql": "SELECT pg_sleep(300)",
}


def running(pk):
    return wait_for(lambda: Command.objects.get(pk=pk).status == Status.RUNNING, 60,
                    message=f"command {pk} to run")


def test_cancel_stops_a_long_duckdb_query(member, start_worker, worker_media):
    pk = submitted(submit_sql(member, LONG["duckdb"], timeout=600))
    start_worker(env=worker_media)
    running(pk)
    # Past the reaper's limit in these tests (3 s) inside one statement: still heartbeating.
    wait_for(lambda: heartbeat_age(pk) > timedelta(seconds=4), 60,
             message="a heartbeat 4 s after the start")
    assert member.client.post(f"/api/v1/commands/{pk}/cancel/").status_code == 200

    command = finished(pk)
    assert command.status == Status.CANCELLED
    assert command.result_row_count is None
    assert page_status(member, pk) == 409


def heartbeat_age(pk):
    command = Command.objects.get(pk=pk)
    return command.heartbeat_at - command.started_at


def page_status(actor, pk):
    return actor.client.get(f"/api/v1/commands/{pk}/results/").status_code


def test_cancel_stops_a_long_postgresql_statement_on_the_server(member, pg_source,
                                                                start_worker, worker_media):
    import psycopg

    pk = submitted(submit_sql(member, LONG["postgresql"], data_source="people_pg", timeout=600))
    start_worker(env=worker_media)
    running(pk)

    def sleeping():
        with psycopg.connect(pg_source["owner_dsn"]) as conn:
            return conn.execute(
                # The statement runs as FETCH from a server-side cursor, so match the database.
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                "AND datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]

    wait_for(sleeping, 30, message="the statement to reach the server")
    member.client.post(f"/api/v1/commands/{pk}/cancel/")

    assert finished(pk).status == Status.CANCELLED
    assert sleeping() == 0


def test_a_query_past_its_timeout_is_stopped_as_a_timeout_error(member, start_worker,
                                                                worker_media):
    # Longer than the reaper's limit in these tests (3 s): a quiet statement still heartbeats.
    pk = submitted(submit_sql(member, LONG["duckdb"], timeout=5))
    run_queued(start_worker, worker_media)

    command = finished(pk)
    assert (command.status, command.error_type) == (Status.ERROR, "Timeout")
    assert "5 s" in command.error_message


def test_a_saved_query_runs_with_typed_parameters_and_records_its_version(
        member, sqlite_source, start_worker, worker_media):
    created = member.client.post("/api/v1/saved-queries/", {
        "name": "older_than", "sql": "SELECT name FROM people WHERE age > :age ORDER BY id",
        "data_source": "people_db",
        "parameters": [{"name": "age", "type": "integer", "default": 40}]}, format="json")
    assert created.status_code == 201, created.json()
    sq = created.json()["id"]
    edited = member.client.patch(f"/api/v1/saved-queries/{sq}/", {
        "sql": "SELECT name, age FROM people WHERE age > :age ORDER BY id"}, format="json")
    assert edited.json()["version"] == 2
    by_default = member.client.post(f"/api/v1/saved-queries/{sq}/run/", {}, format="json")
    typed = member.client.post(f"/api/v1/saved-queries/{sq}/run/",
                               {"parameters": {"age": "30"}}, format="json")
    run_queued(start_worker, worker_media)

    first, second = (finished(submitted(r)) for r in (by_default, typed))
    assert (first.saved_query_id, first.saved_query_version) == (sq, 2)
    assert first.parameters == {"age": 40} and second.parameters == {"age": 30}
    assert rows_of(member, first.pk) == [["carol", 45]]
    assert rows_of(member, second.pk) == [["alice", 31], ["carol", 45]]


def test_the_result_of_a_shell_command_is_its_stdout(member, start_worker, worker_media):
    response = member.client.post("/api/v1/commands/", {
        "command_type": "shell", "script": "echo alpha; echo noise >&2; echo beta"},
        format="json")
    pk = submitted(response)
    run_queued(start_worker, worker_media)

    assert finished(pk).status == Status.DONE
    body = member.client.get(f"/api/v1/commands/{pk}/results/").json()
    assert body["result"] == "alpha\nbeta\n"
    download = member.client.get(f"/api/v1/commands/{pk}/results/download/")
    assert b"".join(download.streaming_content) == b"alpha\nbeta\n"
    assert download["Content-Type"].startswith("text/plain")
