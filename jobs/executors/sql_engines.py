"""Per-engine connection code for the SQL executor: SQLite, PostgreSQL and DuckDB sessions.

Every session opens its data source read-only, runs one already-bound statement at a time and
hands back a result to fetch from in batches. Sessions raise only their driver's exceptions
(listed in `errors`); `classify` turns one into an (error_type, message) pair, and the
orchestration in `jobs.executors.sql` turns that into a `SqlError`. Keeping `SqlError` out of
this module avoids an import cycle.
"""

import importlib
import logging
import math
import re
import shutil
import sqlite3
import tempfile
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
import psycopg.errors
from psycopg import pq
from psycopg.types.datetime import DateLoader, TimestampLoader, TimestamptzLoader

if TYPE_CHECKING:
    import duckdb

logger = logging.getLogger(__name__)


def load_duckdb():
    """DuckDB, imported on first use: it adds ~17 MiB to every process that imports it, and
    web processes and idle workers need it only when a DuckDB query or upload comes."""
    return importlib.import_module("duckdb")


class EngineResult(Protocol):
    """The rows of one statement, fetched in batches."""

    def fetch(self, size: int) -> list[tuple]: ...

    def describe(self, first_batch: list[tuple]) -> list[dict]: ...

    def close(self) -> None: ...


class EngineSession(Protocol):
    """A read-only connection to one data source, used from one thread (`interrupt` excepted)."""

    errors: tuple[type[BaseException], ...]

    def open(self) -> None: ...

    def refusal(self, sql: str) -> str | None: ...

    def execute(self, sql: str, params: list) -> EngineResult | None: ...

    def after_statement(self) -> str | None: ...

    def classify(self, exc: BaseException) -> tuple[str, str]: ...

    def open_failure(self, exc: BaseException) -> str:
        """What the user is told when `open` raised `exc`: nothing about the network."""
        ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


class _CursorResult:
    """A DB-API cursor read with fetchmany; column types come from `type_of(index)`."""

    def __init__(self, cursor: Any, type_of) -> None:
        self._cursor = cursor
        self._type_of = type_of

    def fetch(self, size: int) -> list[tuple]:
        return self._cursor.fetchmany(size)

    def describe(self, first_batch: list[tuple]) -> list[dict]:
        return [
            {"name": column[0], "type": self._type_of(index, column, first_batch)}
            for index, column in enumerate(self._cursor.description)
        ]

    def close(self) -> None:
        self._cursor.close()


# ---------------------------------------------------------------------------------------------
# SQLite

# Authorizer actions a read-only query may need; everything else (writes, DDL, ATTACH, DETACH,
# ANALYZE, REINDEX, virtual tables) is denied.
_SQLITE_ALLOWED_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
    sqlite3.SQLITE_PRAGMA,
    sqlite3.SQLITE_TRANSACTION,
    sqlite3.SQLITE_SAVEPOINT,
}
# Pragmas that only report; an argument is accepted only where it names a table or index.
_SQLITE_READ_PRAGMAS = {
    "application_id", "collation_list", "compile_options", "data_version", "encoding",
    "foreign_key_check", "foreign_key_list", "foreign_keys", "freelist_count", "function_list",
    "index_info", "index_list", "index_xinfo", "integrity_check", "module_list", "page_count",
    "page_size", "pragma_list", "quick_check", "schema_version", "table_info", "table_list",
    "table_xinfo", "user_version",
}  # fmt: skip
_SQLITE_PRAGMAS_WITH_NAME_ARGUMENT = {
    "foreign_key_check", "foreign_key_list", "index_info", "index_list", "index_xinfo",
    "integrity_check", "quick_check", "table_info", "table_list", "table_xinfo",
}  # fmt: skip
# Listed by name because sqlite3's SQLITE_LIMIT_* constants reuse the same small numbers.
_SQLITE_ACTION_NAMES = {
    getattr(sqlite3, f"SQLITE_{name}"): name.replace("_", " ")
    for name in (
        "ALTER_TABLE", "ANALYZE", "ATTACH", "CREATE_INDEX", "CREATE_TABLE", "CREATE_TEMP_INDEX",
        "CREATE_TEMP_TABLE", "CREATE_TEMP_TRIGGER", "CREATE_TEMP_VIEW", "CREATE_TRIGGER",
        "CREATE_VIEW", "CREATE_VTABLE", "DELETE", "DETACH", "DROP_INDEX", "DROP_TABLE",
        "DROP_TEMP_INDEX", "DROP_TEMP_TABLE", "DROP_TEMP_TRIGGER", "DROP_TEMP_VIEW",
        "DROP_TRIGGER", "DROP_VIEW", "DROP_VTABLE", "INSERT", "REINDEX", "UPDATE",
    )
    if hasattr(sqlite3, f"SQLITE_{name}")
}  # fmt: skip
_SQLITE_SCHEMA_TABLES = {
    "sqlite_master",
    "sqlite_temp_master",
    "sqlite_schema",
    "sqlite_temp_schema",
}
_SQLITE_TYPE_NAMES = {int: "integer", float: "real", str: "text", bytes: "blob"}


class _SqliteAuthorizer:
    """`set_authorizer` callback that lets through reads only and remembers what it denied."""

    def __init__(self) -> None:
        self.denied: str | None = None

    def __call__(self, action: int, arg1, arg2, database, trigger) -> int:
        if action == sqlite3.SQLITE_PRAGMA:
            allowed = arg1 in _SQLITE_READ_PRAGMAS and (
                arg2 is None or arg1 in _SQLITE_PRAGMAS_WITH_NAME_ARGUMENT
            )
        elif action == sqlite3.SQLITE_FUNCTION:
            allowed = arg2 != "load_extension"
        else:
            allowed = action in _SQLITE_ALLOWED_ACTIONS
        if allowed:
            return sqlite3.SQLITE_OK
        self.denied = _sqlite_denial_name(action, arg1, arg2)
        return sqlite3.SQLITE_DENY


def _sqlite_denial_name(action: int, arg1, arg2) -> str:
    if action == sqlite3.SQLITE_PRAGMA:
        return f"PRAGMA {arg1}"
    if action == sqlite3.SQLITE_FUNCTION:
        return f"function {arg2}"
    if arg1 in _SQLITE_SCHEMA_TABLES:
        # CREATE, DROP and ALTER are first asked as writes to the schema table, and SQLite
        # stops at the first denial, so their own action is never seen.
        return "changing the schema"
    return _SQLITE_ACTION_NAMES.get(action, f"authorizer action {action}")


def _sqlite_type(index: int, column: tuple, first_batch: list[tuple]) -> str:
    # Python's sqlite3 never exposes declared types in cursor.description, so the type is that
    # of the first non-null value, named like SQLite's typeof().
    for row in first_batch:
        if row[index] is not None:
            return _SQLITE_TYPE_NAMES.get(type(row[index]), type(row[index]).__name__)
    return "null"


class SqliteSession:
    """A SQLite file opened with mode=ro and an authorizer that denies every write."""

    errors = (sqlite3.Error,)

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._authorizer = _SqliteAuthorizer()

    def open(self) -> None:
        uri = Path(self._path).resolve().as_uri() + "?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        # Reading the header here reports "not a database" as a connection problem.
        self._conn.execute("PRAGMA schema_version").fetchall()
        # The first use of a table-valued pragma function (pragma_table_info('t')) in a
        # connection registers it, which the authorizer is asked as an UPDATE of
        # sqlite_master and would deny as a schema change. Registered here, before the
        # authorizer, they are plain reads; the pragma itself is still checked on every use.
        for name in sorted(_SQLITE_READ_PRAGMAS):
            self._conn.execute(f"SELECT * FROM pragma_{name} WHERE 0").fetchall()
        self._conn.set_authorizer(self._authorizer)

    def refusal(self, sql: str) -> str | None:
        return None

    def execute(self, sql: str, params: list) -> EngineResult | None:
        self._authorizer.denied = None
        cursor = self._conn.cursor()
        cursor.execute(sql, params)
        if cursor.description is None:
            cursor.close()
            return None
        return _CursorResult(cursor, _sqlite_type)

    def after_statement(self) -> str | None:
        return None

    def open_failure(self, exc: BaseException) -> str:
        # SQLite's own words ("unable to open database file", "file is not a database") name
        # neither the path nor anything beyond the account's directory.
        return str(exc)

    def classify(self, exc: BaseException) -> tuple[str, str]:
        if self._authorizer.denied:
            return "ReadOnly", f"{self._authorizer.denied} is not allowed: read-only data source"
        if getattr(exc, "sqlite_errorname", None) == "SQLITE_READONLY":
            return "ReadOnly", str(exc)
        return "QueryError", str(exc)

    def interrupt(self) -> None:
        if self._conn is not None:
            self._conn.interrupt()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


# ---------------------------------------------------------------------------------------------
# PostgreSQL

# Statements DECLARE accepts; these stream through a server-side cursor, the rest (SHOW,
# EXPLAIN, SET, ...) return small results through a client cursor.
_PG_CURSOR_QUERY = re.compile(
    r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/|\()*(?:select|with|values|table)\b",
    re.IGNORECASE | re.DOTALL,
)


def _lenient(loader_class: type) -> type:
    """A text loader that returns the server's text for values Python cannot hold ('infinity',
    years past 9999) instead of failing the whole result."""

    class Lenient(loader_class):
        def load(self, data):
            try:
                return super().load(data)
            except psycopg.DataError:
                return bytes(data).decode()

    return Lenient


def _pg_type_name(conn: psycopg.Connection, oid: int) -> str:
    info = conn.adapters.types.get(oid)
    if info is None:
        return str(oid)
    # The registry answers an array oid with the element's info.
    return f"{info.name}[]" if oid == info.array_oid else info.name


class RefusedRole(psycopg.OperationalError):
    """The data source's credentials are too powerful to be kept read-only."""


class PostgresSession:
    """A PostgreSQL connection with the data source's own credentials, in one READ ONLY
    transaction that is never committed."""

    errors = (psycopg.Error,)

    def __init__(self, dsn: str, timeout: float | None, batch_size: int) -> None:
        self._dsn = dsn
        self._timeout = timeout
        self._batch_size = batch_size
        self._conn: psycopg.Connection | None = None
        self._cursors = 0

    def open(self) -> None:
        given = psycopg.conninfo.conninfo_to_dict(self._dsn)
        defaults = {
            "connect_timeout": max(2, math.ceil(min(self._timeout or 30, 30))),
            "application_name": "jobportal-sql",
        }
        extra = {key: value for key, value in defaults.items() if key not in given}
        self._conn = conn = psycopg.connect(self._dsn, **extra)
        for name, loader in (
            ("date", DateLoader),
            ("timestamp", TimestampLoader),
            ("timestamptz", TimestamptzLoader),
        ):
            conn.adapters.register_loader(name, _lenient(loader))
        conn.read_only = True
        # This first query also takes the transaction's snapshot, after which the server
        # refuses SET TRANSACTION READ WRITE.
        milliseconds = "0" if self._timeout is None else str(math.ceil(self._timeout * 1000))
        conn.execute("SELECT set_config('statement_timeout', %s, false)", [milliseconds])
        # A read-only transaction does not stop a superuser (COPY ... TO PROGRAM,
        # pg_read_file) nor members of the server-file roles: such credentials are refused.
        powerful = conn.execute(
            "SELECT rolsuper OR pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER')"
            " OR pg_has_role(current_user, 'pg_read_server_files', 'MEMBER')"
            " FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        if powerful is None or powerful[0]:
            raise RefusedRole(
                "The data source connects as a superuser or a role that may read server files "
                "or run programs; give it a role that may only read its data."
            )

    def refusal(self, sql: str) -> str | None:
        return None

    def execute(self, sql: str, params: list) -> EngineResult | None:
        conn = self._conn
        if _PG_CURSOR_QUERY.match(sql):
            self._cursors += 1
            cursor = conn.cursor(name=f"jobportal_{self._cursors}")
            cursor.itersize = self._batch_size
            cursor.execute(sql, params or None)
        else:
            cursor = conn.cursor()
            # prepare=True forces the extended protocol, which runs exactly one statement even
            # if the splitter and the server ever disagree about where a statement ends.
            cursor.execute(sql, params or None, prepare=True)
        if cursor.description is None:
            cursor.close()
            return None
        return _CursorResult(cursor, lambda index, column, _: _pg_type_name(conn, column.type_code))

    def after_statement(self) -> str | None:
        if self._conn.info.transaction_status != pq.TransactionStatus.INTRANS:
            # A COMMIT or ROLLBACK ended our READ ONLY transaction; what follows could open a
            # read-write one.
            return "transaction control statements (COMMIT, ROLLBACK, ...) are not allowed"
        return None

    def open_failure(self, exc: BaseException) -> str:
        if isinstance(exc, RefusedRole):
            return str(exc)
        # libpq's messages name the host, address and port and tell "refused" from "timed
        # out": an oracle for scanning the workers' network.
        return "could not connect to the PostgreSQL server"

    def classify(self, exc: BaseException) -> tuple[str, str]:
        message = str(exc).strip()
        if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
            return "ReadOnly", message
        if isinstance(exc, psycopg.errors.FeatureNotSupported) and "data-modifying" in message:
            # A WITH ... DELETE/INSERT/UPDATE query, refused by DECLARE before read-only mode.
            return "ReadOnly", message
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return "Timeout", message
        if self._conn is None or self._conn.broken:
            return "ConnectionError", message
        return "QueryError", message

    def interrupt(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.cancel_safe(timeout=5)
        except psycopg.Error:
            # The watcher tries again on its next tick; the statement_timeout is the backstop.
            logger.warning("could not cancel the PostgreSQL statement", exc_info=True)

    def close(self) -> None:
        if self._conn is not None:
            # Closing discards the open READ ONLY transaction; nothing is ever committed.
            self._conn.close()


# ---------------------------------------------------------------------------------------------
# DuckDB

# Statement types a script may run. Everything else (COPY, EXPORT, ATTACH, LOAD/INSTALL,
# CREATE, INSERT, PRAGMA, CALL, ...) is refused: allowed_directories lets DuckDB write where it
# may read, and the read-only database file does not cover temporary objects.
_DUCKDB_ALLOWED_TYPES = {"SELECT", "SET"}
_DUCKDB_EXPLAIN_PREFIX = re.compile(
    r"\A\s*explain\s*(?:\([^)]*\)\s*|analy[sz]e\s+)?", re.IGNORECASE
)
_DUCKDB_READERS = {"csv": "read_csv_auto", "parquet": "read_parquet"}


class _DuckdbResult(_CursorResult):
    """Rows read from the connection itself: a DuckDB cursor is a separate connection that
    would not see our temporary views, so there is no cursor of our own to close."""

    def close(self) -> None:
        return None


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_identifier(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


class DuckdbSession:
    """A DuckDB database opened read_only, with the given files as views, external access
    limited to those files and directories, and the configuration locked."""

    @property
    def errors(self):
        return (load_duckdb().Error,)

    def __init__(
        self,
        target: str,
        tables: dict[str, tuple[str, str]],
        allowed_directories: tuple[str, ...],
    ) -> None:
        self._target = target
        self._tables = tables
        self._allowed_directories = allowed_directories
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._workdir: str | None = None

    def open(self) -> None:
        duckdb = load_duckdb()
        self._workdir = tempfile.mkdtemp(prefix="jobportal-duckdb-")
        path = self._target
        if path == ":memory:":
            # An in-memory database cannot be opened read_only; an empty file can.
            path = _empty_database()
        config = {
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
            # Spill files go to our scratch directory, never next to the data source.
            "temp_directory": str(Path(self._workdir, "spill")),
        }
        self._conn = conn = duckdb.connect(path, read_only=True, config=config)
        for name, (file_path, file_format) in self._tables.items():
            reader = _DUCKDB_READERS[file_format]
            conn.execute(
                f"CREATE TEMP VIEW {_sql_identifier(name)} AS "
                f"SELECT * FROM {reader}({_sql_string(file_path)})"
            )
        # The allow-lists must be set while external access is still on, and the lock last.
        files = [file_path for file_path, _ in self._tables.values()]
        directories = [str(Path(d)).rstrip("/") + "/" for d in self._allowed_directories]
        conn.execute("SET allowed_paths = $paths", {"paths": files})
        conn.execute("SET allowed_directories = $directories", {"directories": directories})
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")

    def refusal(self, sql: str) -> str | None:
        for statement in self._conn.extract_statements(sql):
            kind = self._statement_kind(statement)
            if kind == "EXPLAIN":
                # EXPLAIN ANALYZE runs the statement it explains, so that one is checked too.
                inner = _DUCKDB_EXPLAIN_PREFIX.sub("", statement.query, count=1)
                if not inner.strip() or self.refusal(inner) is not None:
                    return "EXPLAIN is allowed for queries only: read-only data source"
            elif kind not in _DUCKDB_ALLOWED_TYPES:
                return f"{kind} statements are not allowed: read-only data source"
        return None

    @staticmethod
    def _statement_kind(statement) -> str:
        try:
            return statement.type.name
        except ValueError:
            # duckdb 2.0 raises for statement types its Python enum does not know
            # (e.g. UPDATE EXTENSIONS); unknown means refused.
            return "unknown"

    def execute(self, sql: str, params: list) -> EngineResult | None:
        conn = self._conn
        conn.execute(sql, params or None)
        if conn.description is None:
            return None
        return _DuckdbResult(conn, lambda index, column, _: str(column[1]))

    def after_statement(self) -> str | None:
        return None

    def open_failure(self, exc: BaseException) -> str:
        # DuckDB's messages repeat the file path (the target) and the datasets' paths.
        return "could not open the DuckDB database or its tables"

    def classify(self, exc: BaseException) -> tuple[str, str]:
        duckdb = load_duckdb()
        if isinstance(exc, duckdb.PermissionException):
            return "ReadOnly", str(exc)
        if isinstance(exc, duckdb.InvalidInputException) and (
            "read-only mode" in str(exc) or "configuration has been locked" in str(exc)
        ):
            return "ReadOnly", str(exc)
        return "QueryError", str(exc)

    def interrupt(self) -> None:
        if self._conn is not None:
            self._conn.interrupt()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, onexc=_log_cleanup_failure)


_EMPTY = threading.local()


def _empty_database() -> str:
    """An empty DuckDB database file of this thread's, made once and opened read_only by each
    of its sessions in turn: making one took longer than the whole of a small query (~30 ms
    of a ``SELECT 1`` command's ~55). One per thread, because DuckDB refuses a second open of
    one file in a process with another configuration (each session has its own spill
    directory) while the first is open, and a worker's slots are threads."""
    path = getattr(_EMPTY, "path", None)
    if path is None or not Path(path).is_file():
        directory = tempfile.mkdtemp(prefix="jobportal-duckdb-empty-")
        path = str(Path(directory, "empty.duckdb"))
        load_duckdb().connect(path).close()
        weakref.finalize(_EMPTY, shutil.rmtree, directory, True)
        _EMPTY.path = path
    return path


def _log_cleanup_failure(function, path, exc) -> None:
    logger.warning("could not remove DuckDB scratch path %s: %s", path, exc)
