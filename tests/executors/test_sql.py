"""The SQL executor against real SQLite files, a real PostgreSQL server and real DuckDB.

PostgreSQL tests run in a throwaway database, as a non-superuser role that owns the table, so
read-only enforcement is what a normal user of a data source meets. They are skipped when the
server in JOBPORTAL_TEST_PG_DSN cannot be reached.
"""

import csv
import json
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg import conninfo
from psycopg import sql as pgsql

from jobs.executors.sql import (
    SqlError,
    SqlSpec,
    bind_parameters,
    json_value,
    run,
    split_statements,
)

ADMIN_DSN = os.environ.get("JOBPORTAL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
ENGINES = ["sqlite", "postgresql", "duckdb"]
ROWS = [(1, "alice"), (2, "bob"), (3, "carol")]
HOSTILE = "'; DROP TABLE t; --"


class Recorder:
    """SqlHooks that keep what they are told; asks to cancel after `cancel_after_polls`."""

    def __init__(self, cancel_after_polls: int | None = None) -> None:
        self.statements: list[tuple[int, int]] = []
        self.columns: list[dict] | None = None
        self.batches: list[list[list]] = []
        self.polls = 0
        self.cancel_after_polls = cancel_after_polls

    def on_statement(self, done: int, total: int) -> None:
        self.statements.append((done, total))

    def on_columns(self, columns: list[dict]) -> None:
        self.columns = columns

    def on_rows(self, rows: list[list]) -> None:
        self.batches.append(rows)

    def should_cancel(self) -> bool:
        self.polls += 1
        return self.cancel_after_polls is not None and self.polls > self.cancel_after_polls

    @property
    def rows(self) -> list[list]:
        return [row for batch in self.batches for row in batch]


def run_sql(source, sql, hooks=None, batch_size=1000, **spec_fields):
    hooks = hooks or Recorder()
    outcome = run(source.spec(sql, **spec_fields), hooks, batch_size=batch_size)
    return outcome, hooks


def sql_error(source, sql, **spec_fields) -> SqlError:
    with pytest.raises(SqlError) as raised:
        run_sql(source, sql, **spec_fields)
    return raised.value


# ---------------------------------------------------------------------------------------------
# Data sources: the same table t(id, name) holding ROWS on each engine


@dataclass
class Source:
    """A data source holding table t, and a way to read t back around the executor."""

    engine: str
    target: str
    read_back: object
    tables: dict | None = None
    allowed_directories: tuple[str, ...] = ()

    def spec(self, sql, **fields) -> SqlSpec:
        if self.engine == "duckdb":
            fields.setdefault("tables", self.tables)
            fields.setdefault("allowed_directories", self.allowed_directories)
        return SqlSpec(engine=self.engine, target=self.target, sql=sql, **fields)


def make_sqlite_source(tmp_path: Path) -> Source:
    path = tmp_path / "source.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", ROWS)
    conn.close()

    def read_back():
        with sqlite3.connect(path) as conn:
            tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master")]
            return tables, conn.execute("SELECT id, name FROM t ORDER BY id").fetchall()

    return Source("sqlite", str(path), read_back)


def write_csv(path: Path, header: list[str], rows) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def make_duckdb_source(tmp_path: Path) -> Source:
    data = tmp_path / "dataset"
    data.mkdir()
    table = data / "t.csv"
    write_csv(table, ["id", "name"], ROWS)
    before = table.read_bytes()

    def read_back():
        return sorted(p.name for p in data.iterdir()), table.read_bytes() == before

    tables = {"t": (str(table), "csv")}
    return Source("duckdb", ":memory:", read_back, tables, (str(data),))


@pytest.fixture(scope="module")
def pg_database():
    """A throwaway database with table t owned by a non-superuser; yields that user's DSN."""
    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at {ADMIN_DSN}: {exc}")
    suffix = secrets.token_hex(4)
    name, role, password = f"jp_sqlexec_{suffix}", f"jp_sqlexec_{suffix}_user", secrets.token_hex()
    admin.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    admin.execute(
        pgsql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
            pgsql.Identifier(role), pgsql.Literal(password)
        )
    )
    owner_dsn = conninfo.make_conninfo(ADMIN_DSN, dbname=name)
    try:
        with psycopg.connect(owner_dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id integer PRIMARY KEY, name text NOT NULL)")
            conn.cursor().executemany("INSERT INTO t VALUES (%s, %s)", ROWS)
            conn.execute(pgsql.SQL("ALTER TABLE t OWNER TO {}").format(pgsql.Identifier(role)))
            # The user may create tables, so a refused CREATE TABLE proves read-only mode.
            conn.execute(
                pgsql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(pgsql.Identifier(role))
            )
        yield {
            "user_dsn": conninfo.make_conninfo(
                ADMIN_DSN, dbname=name, user=role, password=password
            ),
            "owner_dsn": owner_dsn,
        }
    finally:
        admin.execute(
            pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
        )
        admin.execute(pgsql.SQL("DROP ROLE IF EXISTS {}").format(pgsql.Identifier(role)))
        admin.close()


def make_postgresql_source(pg_database) -> Source:
    def read_back():
        with psycopg.connect(pg_database["owner_dsn"]) as conn:
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            ).fetchall()
            return tables, conn.execute("SELECT id, name FROM t ORDER BY id").fetchall()

    return Source("postgresql", pg_database["user_dsn"], read_back)


@pytest.fixture(params=ENGINES)
def source(request, tmp_path) -> Source:
    if request.param == "sqlite":
        return make_sqlite_source(tmp_path)
    if request.param == "duckdb":
        return make_duckdb_source(tmp_path)
    return make_postgresql_source(request.getfixturevalue("pg_database"))


@pytest.fixture
def sqlite_source(tmp_path) -> Source:
    return make_sqlite_source(tmp_path)


@pytest.fixture
def duckdb_source(tmp_path) -> Source:
    return make_duckdb_source(tmp_path)


@pytest.fixture
def pg_source(pg_database) -> Source:
    return make_postgresql_source(pg_database)


# ---------------------------------------------------------------------------------------------
# Querying


def test_a_sqlite_file_is_queried_with_columns_types_and_rows(sqlite_source):
    outcome, hooks = run_sql(sqlite_source, "SELECT id, name, id * 1.5 AS score FROM t ORDER BY id")

    assert hooks.columns == [
        {"name": "id", "type": "integer"},
        {"name": "name", "type": "text"},
        {"name": "score", "type": "real"},
    ]
    assert hooks.rows == [[1, "alice", 1.5], [2, "bob", 3.0], [3, "carol", 4.5]]
    assert (outcome.row_count, outcome.truncated) == (3, False)


def test_postgresql_is_queried_as_a_normal_user_with_columns_types_and_rows(pg_source):
    outcome, hooks = run_sql(
        pg_source,
        "SELECT t.id, t.name, r.rolsuper FROM t JOIN pg_roles r ON r.rolname = current_user "
        "ORDER BY t.id",
    )

    assert hooks.columns == [
        {"name": "id", "type": "int4"},
        {"name": "name", "type": "text"},
        {"name": "rolsuper", "type": "bool"},
    ]
    assert hooks.rows == [[1, "alice", False], [2, "bob", False], [3, "carol", False]]
    assert outcome.row_count == 3


def test_duckdb_joins_a_csv_and_a_parquet_table_by_name(tmp_path):
    data = tmp_path / "dataset"
    data.mkdir()
    write_csv(data / "people.csv", ["id", "name"], ROWS)
    pq.write_table(pa.table({"person_id": [1, 3], "score": [9.5, 7.25]}), data / "scores.parquet")
    spec = SqlSpec(
        engine="duckdb",
        target=":memory:",
        sql="SELECT p.name, s.score FROM people p JOIN scores s ON s.person_id = p.id ORDER BY 1",
        tables={
            "people": (str(data / "people.csv"), "csv"),
            "scores": (str(data / "scores.parquet"), "parquet"),
        },
    )
    hooks = Recorder()

    outcome = run(spec, hooks)

    assert hooks.columns == [
        {"name": "name", "type": "VARCHAR"},
        {"name": "score", "type": "DOUBLE"},
    ]
    assert hooks.rows == [["alice", 9.5], ["carol", 7.25]]
    assert outcome.row_count == 2


def test_duckdb_sessions_of_two_threads_run_at_once_and_each_reuses_its_empty_database(
    duckdb_source,
):
    """The empty database that ':memory:' is opened as is made once per thread (a slot of a
    worker) and reused by its next session; two threads, running their sessions alongside,
    each with its own spill directory, get different ones."""
    from jobs.executors import sql_engines

    barrier, seen, errors = threading.Barrier(2), {}, []

    def slot(name):
        try:
            for _ in range(2):
                _, hooks = run_sql(duckdb_source, "SELECT count(*) AS n FROM t")
                assert hooks.rows == [[3]]
                seen.setdefault(name, set()).add(sql_engines._EMPTY.path)
                barrier.wait(timeout=30)  # each round starts in both threads together
        except Exception as exc:  # reported below, from the main thread
            errors.append(exc)

    threads = [threading.Thread(target=slot, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert all(len(paths) == 1 for paths in seen.values())  # reused within a thread
    assert seen["a"] != seen["b"]


def test_a_duckdb_database_file_is_queried_read_only(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE sales AS FROM (VALUES (1, 10.5), (2, 20.0)) v(id, amount)")

    def spec(sql):
        return SqlSpec(engine="duckdb", target=str(path), sql=sql)

    hooks = Recorder()
    run(spec("SELECT sum(amount) AS total FROM sales"), hooks)
    with pytest.raises(SqlError) as raised:
        run(spec("INSERT INTO sales VALUES (3, 1)"), Recorder())

    assert hooks.rows == [[30.5]]
    assert raised.value.error_type == "ReadOnly"
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM sales").fetchall() == [(2,)]


def test_a_script_reports_each_statement_and_returns_the_last_statements_rows(source):
    outcome, hooks = run_sql(source, "SELECT name FROM t; SELECT id FROM t WHERE id > 1 ORDER BY 1")

    assert hooks.statements == [(0, 2), (1, 2), (2, 2)]
    assert [column["name"] for column in hooks.columns] == ["id"]
    assert hooks.rows == [[2], [3]]
    assert (outcome.statements_done, outcome.statements_total) == (2, 2)


def test_engine_errors_become_query_errors_with_the_engines_message(source):
    error = sql_error(source, "SELECT * FROM no_such_table")

    assert error.error_type == "QueryError"
    assert "no_such_table" in error.message


def test_a_syntax_error_in_a_later_statement_stops_the_script(source):
    hooks = Recorder()
    with pytest.raises(SqlError) as raised:
        run_sql(source, "SELECT 1; SELEC 2; SELECT 3", hooks=hooks)

    assert raised.value.error_type == "QueryError"
    assert hooks.statements == [(0, 3), (1, 3)]


def test_the_watcher_thread_is_gone_when_run_returns_or_fails(sqlite_source):
    run_sql(sqlite_source, "SELECT 1")
    with pytest.raises(SqlError):
        run_sql(sqlite_source, "SELECT * FROM nowhere")

    assert not [thread for thread in threading.enumerate() if thread.name == "sql-watcher"]


# ---------------------------------------------------------------------------------------------
# Read-only


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO t (id, name) VALUES (9, 'mallory')",
        "UPDATE t SET name = 'mallory'",
        "DELETE FROM t",
        "CREATE TABLE u (x integer)",
        "DROP TABLE t",
    ],
)
def test_writes_are_refused_and_the_data_is_unchanged(source, statement):
    before = source.read_back()

    error = sql_error(source, statement)

    assert error.error_type == "ReadOnly"
    assert source.read_back() == before


def test_postgresql_refuses_data_modifying_with_queries(pg_source):
    before = pg_source.read_back()

    error = sql_error(pg_source, "WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone")

    assert error.error_type == "ReadOnly"
    assert pg_source.read_back() == before


def test_a_write_after_a_read_in_the_same_script_is_refused(source):
    before = source.read_back()

    error = sql_error(source, "SELECT * FROM t; DELETE FROM t; SELECT count(*) FROM t")

    assert error.error_type == "ReadOnly"
    assert source.read_back() == before


@pytest.mark.parametrize(
    "script",
    [
        "COMMIT; BEGIN READ WRITE; INSERT INTO t VALUES (9, 'mallory'); COMMIT",
        "SET TRANSACTION READ WRITE; INSERT INTO t VALUES (9, 'mallory')",
        "ROLLBACK; SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; DELETE FROM t; COMMIT",
        "SET default_transaction_read_only = off; COMMIT; DELETE FROM t; COMMIT",
    ],
)
def test_postgresql_transaction_control_cannot_leave_read_only_mode(pg_source, script):
    before = pg_source.read_back()

    with pytest.raises(SqlError):
        run_sql(pg_source, script)

    assert pg_source.read_back() == before


@pytest.mark.parametrize(
    "statement",
    [
        "ATTACH DATABASE ':memory:' AS other",
        "ATTACH DATABASE 'elsewhere.sqlite3' AS other",
        "PRAGMA user_version = 7",
        "CREATE TEMP TABLE scratch (x)",
        "SELECT load_extension('whatever')",
        "PRAGMA journal_mode = WAL",
        "SELECT * FROM pragma_journal_mode",  # not a read pragma, as a function either
        "PRAGMA writable_schema = ON",
    ],
)
def test_sqlite_refuses_attach_pragma_writes_temp_tables_and_extensions(sqlite_source, statement):
    error = sql_error(sqlite_source, statement)

    assert error.error_type == "ReadOnly"


def test_sqlite_read_pragmas_are_allowed(sqlite_source):
    _, hooks = run_sql(sqlite_source, "PRAGMA table_info(t)")

    assert [row[1] for row in hooks.rows] == ["id", "name"]


@pytest.mark.parametrize("query", [
    "SELECT name FROM pragma_table_info('t') ORDER BY cid",
    "SELECT c.name FROM pragma_table_list AS l, pragma_table_info(l.name) AS c "
    "WHERE l.name = 't' ORDER BY c.cid",
])
def test_sqlite_table_valued_pragma_functions_read_like_their_pragmas(sqlite_source, query):
    _, hooks = run_sql(sqlite_source, query)

    assert hooks.rows == [["id"], ["name"]]


def test_a_missing_sqlite_file_is_a_connection_error_and_is_not_created(tmp_path):
    path = tmp_path / "missing.sqlite3"

    with pytest.raises(SqlError) as raised:
        run(SqlSpec(engine="sqlite", target=str(path), sql="SELECT 1"), Recorder())

    assert raised.value.error_type == "ConnectionError"
    assert not path.exists()


def test_an_unreachable_postgresql_server_is_a_connection_error_that_says_nothing_of_it():
    spec = SqlSpec(engine="postgresql", target="postgresql://x@127.0.0.1:1/none", sql="SELECT 1")

    with pytest.raises(SqlError) as raised:
        run(spec, Recorder())

    assert raised.value.error_type == "ConnectionError"
    assert raised.value.message == "could not connect to the PostgreSQL server"
    assert "127.0.0.1" in raised.value.detail  # for the worker log only


@pytest.fixture
def elsewhere(tmp_path_factory) -> Path:
    """A CSV file outside the dataset directory."""
    path = tmp_path_factory.mktemp("elsewhere") / "secret.csv"
    write_csv(path, ["secret"], [["swordfish"]])
    return path


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM read_csv('{elsewhere}')",
        "SELECT * FROM read_csv('{dataset}/../../{elsewhere_dir}/secret.csv')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM read_csv('https://example.com/data.csv')",
        "INSTALL httpfs",
        "LOAD httpfs",
        "ATTACH '{dataset}/new.duckdb' AS other",
        "ATTACH ':memory:' AS other",
        "COPY (SELECT 1) TO '{dataset}/out.csv'",
        "EXPLAIN ANALYZE COPY (SELECT 1) TO '{dataset}/out.csv'",
        "EXPORT DATABASE '{dataset}/export'",
        "CREATE TEMP TABLE scratch AS SELECT 1",
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "SET lock_configuration = false",
    ],
)
def test_duckdb_refuses_reads_outside_its_files_extensions_attach_and_writes(
    duckdb_source, elsewhere, statement
):
    dataset = duckdb_source.allowed_directories[0]
    before = duckdb_source.read_back()
    sql = statement.format(
        dataset=dataset, elsewhere=elsewhere, elsewhere_dir=elsewhere.parent.name
    )

    error = sql_error(duckdb_source, sql)

    assert error.error_type in {"ReadOnly", "QueryError"}
    assert "swordfish" not in error.message
    assert duckdb_source.read_back() == before


def test_duckdb_does_not_read_a_sibling_directory_that_shares_the_name_prefix(duckdb_source):
    sibling = Path(duckdb_source.allowed_directories[0] + "-other")
    sibling.mkdir()
    write_csv(sibling / "secret.csv", ["secret"], [["swordfish"]])

    error = sql_error(duckdb_source, f"SELECT * FROM read_csv('{sibling}/secret.csv')")

    assert error.error_type == "ReadOnly"


def test_duckdb_reads_other_files_in_its_allowed_directories(duckdb_source):
    dataset = Path(duckdb_source.allowed_directories[0])
    write_csv(dataset / "extra.csv", ["n"], [[41], [1]])

    _, hooks = run_sql(duckdb_source, f"SELECT sum(n) FROM read_csv('{dataset}/extra.csv')")

    assert hooks.rows == [[42]]


def test_duckdb_explain_of_a_query_is_allowed(duckdb_source):
    _, hooks = run_sql(duckdb_source, "EXPLAIN ANALYZE SELECT count(*) FROM t")

    assert hooks.rows


# ---------------------------------------------------------------------------------------------
# Parameters


def test_a_hostile_parameter_stays_a_value(source):
    before = source.read_back()

    _, matching = run_sql(source, "SELECT id FROM t WHERE name = :name", params={"name": HOSTILE})
    _, echoed = run_sql(source, "SELECT :name AS echoed", params={"name": HOSTILE})

    assert matching.rows == []
    assert echoed.rows == [[HOSTILE]]
    assert source.read_back() == before


def test_placeholders_in_string_literals_are_left_alone_and_repeats_are_bound(source):
    _, hooks = run_sql(
        source,
        "SELECT ':who' AS literal, :who AS value, name FROM t WHERE name = :who",
        params={"who": "bob", "unused": 1},
    )

    assert hooks.rows == [[":who", "bob", "bob"]]


@pytest.mark.parametrize("engine", ["postgresql", "duckdb"])
def test_casts_with_double_colons_are_not_parameters(engine, request):
    source = (
        request.getfixturevalue("pg_source")
        if engine == "postgresql"
        else request.getfixturevalue("duckdb_source")
    )

    _, hooks = run_sql(source, "SELECT '7'::int + :n AS total, '50%' AS share", params={"n": 2})

    assert hooks.rows == [[9, "50%"]]


def test_a_missing_parameter_is_a_parameter_error_naming_it(sqlite_source):
    error = sql_error(sqlite_source, "SELECT * FROM t WHERE id = :wanted", params={"other": 1})

    assert error.error_type == "ParameterError"
    assert error.message == "missing parameter: wanted"


def test_binding_skips_comments_quoted_identifiers_dollar_quotes_and_slices():
    sql = (
        'SELECT ":a", $$ :a $$, $tag$ :a $tag$, arr[1:a], x::text, :a -- :a\n'
        "FROM t /* :a */ WHERE y = :b"
    )

    bound, values = bind_parameters(sql, "postgresql", {"a": 1, "b": 2})

    assert bound == (
        'SELECT ":a", $$ :a $$, $tag$ :a $tag$, arr[1:a], x::text, %s -- :a\n'
        "FROM t /* :a */ WHERE y = %s"
    )
    assert values == [1, 2]


def test_binding_for_postgresql_escapes_percent_signs_only_when_there_are_parameters():
    assert bind_parameters("SELECT '5%'", "postgresql", {}) == ("SELECT '5%'", [])
    assert bind_parameters("SELECT '5%', :x", "postgresql", {"x": 1}) == ("SELECT '5%%', %s", [1])
    assert bind_parameters("SELECT '5%', :x", "sqlite", {"x": 1}) == ("SELECT '5%', ?", [1])


# ---------------------------------------------------------------------------------------------
# Splitting


def test_split_statements_respects_quotes_comments_and_drops_empty_statements():
    script = """
        SELECT 'a;b' AS "c;d";
        -- a comment; with a semicolon
        SELECT 2 /* block; comment */ ;;
        SELECT $$x;y$$, E'it\\'s;';
        ; -- trailing comment
    """

    statements = split_statements(script)

    assert statements == [
        """SELECT 'a;b' AS "c;d\"""",
        "-- a comment; with a semicolon\n        SELECT 2 /* block; comment */",
        "SELECT $$x;y$$, E'it\\'s;'",
    ]


def test_a_script_of_only_comments_is_a_query_error(sqlite_source):
    error = sql_error(sqlite_source, "-- nothing here;\n/* ; */")

    assert error.error_type == "QueryError"


# ---------------------------------------------------------------------------------------------
# Streaming and limits

COUNT_TO = {
    "sqlite": "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {n}) "
    "SELECT n FROM c",
    # In the select list, not in FROM: a FunctionScan would materialize the whole series.
    "postgresql": "SELECT generate_series(1, {n}) AS n",
    "duckdb": "SELECT range + 1 AS n FROM range({n})",
}


def test_a_large_result_streams_in_batches(source):
    outcome, hooks = run_sql(source, COUNT_TO[source.engine].format(n=200_000), batch_size=1000)

    assert outcome.row_count == 200_000
    assert len(hooks.batches) >= 200
    assert all(0 < len(batch) <= 1000 for batch in hooks.batches)
    assert hooks.batches[0][0] == [1]
    assert hooks.batches[-1][-1] == [200_000]


def test_max_rows_truncates_to_exactly_that_many_rows(source):
    outcome, hooks = run_sql(source, COUNT_TO[source.engine].format(n=5000), max_rows=2500)

    assert (outcome.row_count, outcome.truncated) == (2500, True)
    assert len(hooks.rows) == 2500
    assert hooks.rows[-1] == [2500]


def test_a_result_of_exactly_max_rows_is_not_truncated(source):
    outcome, _ = run_sql(source, COUNT_TO[source.engine].format(n=10), max_rows=10)

    assert (outcome.row_count, outcome.truncated) == (10, False)


def test_an_endless_result_is_cut_at_max_rows_without_being_computed(source):
    # Were the whole result fetched, this would run into the timeout instead.
    endless = COUNT_TO[source.engine].format(n=10**15)

    outcome, hooks = run_sql(source, endless, max_rows=3, timeout=20)

    assert (outcome.row_count, outcome.truncated) == (3, True)
    assert hooks.rows == [[1], [2], [3]]


def test_max_bytes_truncates_once_the_json_rows_would_exceed_it(sqlite_source):
    outcome, hooks = run_sql(sqlite_source, COUNT_TO["sqlite"].format(n=1000), max_bytes=100)

    def compact_size(rows):
        return len(json.dumps(rows, separators=(",", ":")))

    assert outcome.truncated
    assert 0 < compact_size(hooks.rows) <= 100
    assert compact_size([*hooks.rows, [len(hooks.rows) + 1]]) > 100


# ---------------------------------------------------------------------------------------------
# Timeout and cancel

LONG_QUERY = {
    "sqlite": COUNT_TO["sqlite"].format(n=10**9) + " ORDER BY n DESC",
    "postgresql": "SELECT pg_sleep(30)",
    "duckdb": "SELECT count(*) FROM range(1000000000) a, range(1000000000) b "
    "WHERE a.range <> b.range",
}


def test_a_long_query_times_out(source):
    error = sql_error(source, LONG_QUERY[source.engine], timeout=1)

    assert error.error_type == "Timeout"


def test_the_script_timeout_holds_even_if_postgresql_statement_timeout_is_turned_off(pg_source):
    error = sql_error(pg_source, "SET statement_timeout = 0; SELECT pg_sleep(30)", timeout=1)

    assert error.error_type == "Timeout"


def test_should_cancel_stops_a_long_query(source):
    hooks = Recorder(cancel_after_polls=3)

    with pytest.raises(SqlError) as raised:
        run(source.spec(LONG_QUERY[source.engine]), hooks)

    assert raised.value.error_type == "Cancelled"


def test_cancel_between_batches_stops_delivery(sqlite_source):
    class CancelAfterFirstBatch(Recorder):
        def on_rows(self, rows):
            super().on_rows(rows)
            self.cancel_after_polls = 0
            threading.Event().wait(0.5)  # lets the watcher notice before the next batch

    hooks = CancelAfterFirstBatch()
    with pytest.raises(SqlError) as raised:
        run(sqlite_source.spec(COUNT_TO["sqlite"].format(n=100_000)), hooks, batch_size=10)

    assert raised.value.error_type == "Cancelled"
    assert len(hooks.batches) < 10_000


# ---------------------------------------------------------------------------------------------
# JSON-safe values


def test_values_are_converted_to_json_safe_forms():
    moment = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)

    assert json_value(Decimal("2.00")) == 2
    assert json_value(Decimal("2.5")) == 2.5
    assert json_value(Decimal("0.1")) == "0.1"
    assert json_value(Decimal("NaN")) is None
    assert json_value(float("inf")) is None
    assert json_value(moment) == "2024-05-06T07:08:09+00:00"
    assert json_value(date(2024, 5, 6)) == "2024-05-06"
    assert json_value(timedelta(minutes=1, milliseconds=500)) == 60.5
    assert json_value(b"\x00\xff") == "AP8="
    assert json_value(memoryview(b"ab")) == "YWI="
    assert json_value(UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert json_value({"a": [Decimal("1"), {"b": b"x"}]}) == {"a": [1, {"b": "eA=="}]}
    assert json_value(object.__new__(object)).startswith("<object")


def test_postgresql_values_and_type_names_come_out_json_safe(pg_source):
    _, hooks = run_sql(
        pg_source,
        "SELECT 12.50::numeric AS price, '2024-05-06 07:08:09+00'::timestamptz AS at, "
        "'1 day 2 seconds'::interval AS span, '\\x00ff'::bytea AS raw, "
        "'00000000-0000-0000-0000-000000000001'::uuid AS id, ARRAY[1, 2] AS list, "
        "'{\"k\": [1.5]}'::jsonb AS doc, 'infinity'::date AS forever, NULL::text AS nothing",
    )

    assert [column["type"] for column in hooks.columns] == [
        "numeric", "timestamptz", "interval", "bytea", "uuid", "int4[]", "jsonb", "date", "text",
    ]  # fmt: skip
    row = hooks.rows[0]
    assert row[0] == 12.5
    assert datetime.fromisoformat(row[1]) == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert row[2:] == [86402.0, "AP8=", "00000000-0000-0000-0000-000000000001", [1, 2],
                       {"k": [1.5]}, "infinity", None]  # fmt: skip
    json.dumps(hooks.rows)


def test_postgresql_refuses_superuser_credentials(pg_database):
    superuser = Source("postgresql", pg_database["owner_dsn"], lambda: None)
    error = sql_error(superuser, "SELECT pg_read_file('/etc/hostname')")
    assert error.error_type == "ConnectionError"
    assert "superuser" in error.message
