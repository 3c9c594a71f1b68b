"""Run a SQL script read-only against SQLite, PostgreSQL or DuckDB (no Django).

`run` splits the script into statements, binds `:name` parameters for the engine's driver, runs
the statements in order and streams the rows of the last one to hooks in JSON-safe batches.
A watcher thread interrupts the running statement when the script's deadline passes or the
caller asks to cancel. Every engine error comes out as a `SqlError`. The per-engine connection
code, including how each engine is kept read-only, lives in `sql_engines`.
"""

import base64
import json
import logging
import math
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from pathlib import Path
from typing import Protocol
from uuid import UUID

from jobs.executors import sql_engines

logger = logging.getLogger(__name__)

ENGINES = ("sqlite", "postgresql", "duckdb")
TABLE_FORMATS = ("csv", "parquet")
POLL_SECONDS = 0.2

ERROR_TYPES = (
    "QueryError", "ReadOnly", "Timeout", "Cancelled", "ParameterError", "ConnectionError",
)  # fmt: skip


@dataclass(frozen=True)
class SqlSpec:
    """What to run, where, and within which limits."""

    engine: str  # "sqlite" | "postgresql" | "duckdb"
    # sqlite: file path; postgresql: DSN with the data source's own credentials;
    # duckdb: file path or ":memory:"
    target: str
    sql: str  # one or more statements separated by ';'
    params: dict[str, object] = field(default_factory=dict)  # written as :name on every engine
    timeout: float | None = None  # seconds for the whole script
    max_rows: int | None = None  # stop after this many result rows -> truncated
    max_bytes: int | None = None  # stop after roughly this many bytes of JSON rows -> truncated
    # duckdb only: table name -> (absolute file path, "csv" | "parquet"), queryable by name
    tables: dict[str, tuple[str, str]] = field(default_factory=dict)
    # duckdb only: directories the query may read besides the tables' files
    allowed_directories: tuple[str, ...] = ()


class SqlHooks(Protocol):
    """Callbacks of one run; all but `should_cancel` are called from the calling thread."""

    def on_statement(self, done: int, total: int) -> None:
        """After each statement finishes, and once with done=0 before the first."""

    def on_columns(self, columns: list[dict]) -> None:
        """[{"name": ..., "type": ...}] of the result (last) statement; [] if it has none."""

    def on_rows(self, rows: list[list]) -> None:
        """A batch of at most batch_size JSON-safe rows of the result, in order."""

    def should_cancel(self) -> bool:
        """Polled about every POLL_SECONDS from the watcher thread."""


@dataclass(frozen=True)
class SqlOutcome:
    """How a successful run ended."""

    row_count: int
    truncated: bool
    statements_done: int
    statements_total: int


class SqlError(Exception):
    """A run failed; `error_type` is one of ERROR_TYPES, `message` is for the user. `detail`
    is the driver's own message where it may say more than the user should see (host, port,
    "Connection refused": enough to scan a network through the portal), for the operator."""

    def __init__(self, error_type: str, message: str, detail: str | None = None) -> None:
        super().__init__(error_type, message)
        self.error_type = error_type
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.error_type}: {self.message}"


# ---------------------------------------------------------------------------------------------
# Lexing: statements and placeholders

_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
_PLACEHOLDER = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)(?!:)")
# A placeholder follows an operator, a bracket, a separator or whitespace. After a name,
# a number, a quote or a closing bracket, ':' is a slice (a[1:n]) or a struct key ({'k':v}).
_PLACEHOLDER_MAY_FOLLOW = set("(,=<>+-*/%|!~^[{;&") | {""}


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char in "_$"


def _quoted_end(sql: str, start: int) -> int:
    """End (exclusive) of the quoted string or identifier opening at `start`."""
    quote = sql[start]
    # Backslash escapes only in E'...' strings (PostgreSQL, DuckDB).
    backslashes = quote == "'" and start > 0 and sql[start - 1] in "eE"
    backslashes = backslashes and (start < 2 or not _is_word_char(sql[start - 2]))
    index = start + 1
    while index < len(sql):
        char = sql[index]
        escaped = backslashes and char == "\\"
        if escaped or (char == quote and sql[index + 1 : index + 2] == quote):
            index += 2
        elif char == quote:
            return index + 1
        else:
            index += 1
    return len(sql)


def _special_end(sql: str, index: int) -> int | None:
    """End of the comment, string, quoted identifier or dollar-quoted string at `index`, or
    None if the text there is plain SQL. Unterminated ones run to the end of the text, where
    the engine reports the syntax error."""
    char = sql[index]
    if sql.startswith("--", index):
        end = sql.find("\n", index)
        return len(sql) if end < 0 else end + 1
    if sql.startswith("/*", index):
        end = sql.find("*/", index + 2)
        return len(sql) if end < 0 else end + 2
    if char in "'\"`":
        return _quoted_end(sql, index)
    if char == "$" and (index == 0 or not _is_word_char(sql[index - 1])):
        tag = _DOLLAR_TAG.match(sql, index)
        if tag:
            end = sql.find(tag.group(), tag.end())
            return len(sql) if end < 0 else end + len(tag.group())
    return None


def _pieces(sql: str) -> Iterator[tuple[str, str]]:
    """The text as ("code" | "comment" | "quoted", text) pieces, in order."""
    start = index = 0
    while index < len(sql):
        end = _special_end(sql, index)
        if end is None:
            index += 1
            continue
        if index > start:
            yield "code", sql[start:index]
        kind = "comment" if sql[index] in "-/" else "quoted"
        yield kind, sql[index:end]
        start = index = end
    if start < len(sql):
        yield "code", sql[start:]


def split_statements(sql: str) -> list[str]:
    """Split a script at the semicolons outside strings, quoted identifiers, dollar quotes and
    comments. Statements holding nothing but whitespace and comments are dropped."""
    statements: list[str] = []
    current: list[str] = []
    has_content = False

    def flush() -> None:
        if has_content:
            statements.append("".join(current).strip())

    for kind, text in _pieces(sql):
        if kind != "code":
            current.append(text)
            has_content = has_content or kind == "quoted"
            continue
        first, *rest = text.split(";")
        current.append(first)
        has_content = has_content or bool(first.strip())
        for part in rest:
            flush()
            current, has_content = [part], bool(part.strip())
    flush()
    return statements


def bind_parameters(sql: str, engine: str, params: dict) -> tuple[str, object]:
    """Rewrite the :name placeholders of one statement for the engine's driver and return
    (sql, driver parameters: a list, one value per placeholder).

    Values never enter the SQL text. Placeholders inside strings, quoted identifiers and
    comments, and PostgreSQL '::' casts are left alone. A placeholder without a value raises
    SqlError("ParameterError"); parameters the statement does not use are ignored.
    """
    texts: list[str] = []  # the SQL around the placeholders: one more than there are values
    values: list = []
    current: list[str] = []
    previous = ""
    for kind, text in _pieces(sql):
        position = 0
        for match in _PLACEHOLDER.finditer(text) if kind == "code" else ():
            before = text[match.start() - 1] if match.start() else previous
            if not (before in _PLACEHOLDER_MAY_FOLLOW or before.isspace()):
                continue
            name = match.group(1)
            if name not in params:
                raise SqlError("ParameterError", f"missing parameter: {name}")
            values.append(params[name])
            current.append(text[position : match.start()])
            texts.append("".join(current))
            current, position = [], match.end()
        current.append(text[position:])
        previous = text[-1:]
    texts.append("".join(current))
    if engine == "postgresql" and values:
        # With parameters, psycopg reads every '%' as the start of a placeholder.
        texts = [text.replace("%", "%%") for text in texts]
    return ("%s" if engine == "postgresql" else "?").join(texts), values


# ---------------------------------------------------------------------------------------------
# JSON-safe values


def json_value(value: object) -> object:
    """The value as something json.dumps accepts without loss of meaning."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return _json_decimal(value)
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(item) for item in value]
    return str(value)


def _json_decimal(value: Decimal) -> object:
    if not value.is_finite():
        return None
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    return as_float if Decimal(as_float) == value else str(value)


# ---------------------------------------------------------------------------------------------
# Watcher


class _Watcher:
    """Background thread that interrupts the session when the deadline passes or the hooks ask
    to cancel. It keeps interrupting on every tick, since an interrupt that lands between two
    statements is lost; the main thread also checks `stop_reason` between batches."""

    def __init__(self, hooks: SqlHooks, deadline: float | None, interrupt) -> None:
        self.stop_reason: str | None = None
        self._hooks = hooks
        self._deadline = deadline
        self._interrupt = interrupt
        self._polling_hooks = True
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sql-watcher", daemon=True)

    def __enter__(self) -> "_Watcher":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._done.wait(POLL_SECONDS):
            if self.stop_reason is None:
                self.stop_reason = self._check()
            if self.stop_reason is not None:
                self._interrupt()

    def _check(self) -> str | None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            return "Timeout"
        if self._polling_hooks:
            try:
                if self._hooks.should_cancel():
                    return "Cancelled"
            except Exception:
                # A broken hook must not kill the watcher: the deadline still has to hold.
                logger.exception("should_cancel failed; no longer polling it")
                self._polling_hooks = False
        return None

    def raise_if_stopped(self) -> None:
        """Raise the SqlError for the timeout or cancellation, if there was one."""
        if self.stop_reason is not None:
            raise SqlError(self.stop_reason, _STOP_MESSAGES[self.stop_reason])


_STOP_MESSAGES = {
    "Timeout": "the script ran longer than its timeout and was interrupted",
    "Cancelled": "the script was cancelled",
}


# ---------------------------------------------------------------------------------------------
# Orchestration


def run(spec: SqlSpec, hooks: SqlHooks, *, batch_size: int = 1000) -> SqlOutcome:
    """Run the script of `spec` read-only and stream the last statement's rows to `hooks`.

    Raises SqlError for every failure: bad parameters, connection problems, engine errors,
    refused writes, timeout and cancellation.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    deadline = None if spec.timeout is None else time.monotonic() + spec.timeout
    _validate(spec)
    statements = [
        bind_parameters(statement, spec.engine, spec.params)
        for statement in split_statements(spec.sql)
    ]
    if not statements:
        raise SqlError("QueryError", "the script contains no SQL statement")
    total = len(statements)
    hooks.on_statement(0, total)
    session = _session_for(spec, batch_size)
    try:
        with _Watcher(hooks, deadline, session.interrupt) as watcher:
            runner = _Runner(session, watcher, spec, hooks, batch_size)
            runner.open()
            for done, (sql, params) in enumerate(statements, start=1):
                runner.statement(sql, params, is_last=done == total)
                hooks.on_statement(done, total)
    finally:
        # Only after the watcher has stopped, so no interrupt can reach a closed connection.
        session.close()
    return SqlOutcome(runner.limits.row_count, runner.limits.truncated, total, total)


def _validate(spec: SqlSpec) -> None:
    if spec.engine not in ENGINES:
        raise SqlError("ConnectionError", f"unsupported engine: {spec.engine!r}")
    if spec.tables and spec.engine != "duckdb":
        raise SqlError("ConnectionError", "tables can only be attached to DuckDB")
    for name, (path, file_format) in spec.tables.items():
        if file_format not in TABLE_FORMATS:
            raise SqlError("ConnectionError", f"table {name}: unsupported format {file_format!r}")
        if not Path(path).is_absolute():
            raise SqlError("ConnectionError", f"table {name}: path must be absolute")


def _session_for(spec: SqlSpec, batch_size: int) -> sql_engines.EngineSession:
    if spec.engine == "sqlite":
        return sql_engines.SqliteSession(spec.target)
    if spec.engine == "postgresql":
        return sql_engines.PostgresSession(spec.target, spec.timeout, batch_size)
    return sql_engines.DuckdbSession(spec.target, spec.tables, spec.allowed_directories)


class _Runner:
    """The steps of one run over an engine session, each turning driver errors into SqlError."""

    def __init__(self, session, watcher: _Watcher, spec: SqlSpec, hooks: SqlHooks, batch_size):
        self.session = session
        self.watcher = watcher
        self.hooks = hooks
        self.batch_size = batch_size
        self.limits = _Limits(spec.max_rows, spec.max_bytes)

    @contextmanager
    def translated(self, *, opening: bool = False) -> Iterator[None]:
        """Turn the session's driver exceptions into SqlError. A timeout or cancellation seen
        by the watcher explains any error it caused."""
        try:
            yield
        except self.session.errors as exc:
            self.watcher.raise_if_stopped()
            error_type, message = self.session.classify(exc)
            message = message or type(exc).__name__
            if opening and error_type != "Timeout":
                raise SqlError("ConnectionError", self.session.open_failure(exc),
                               detail=message) from exc
            raise SqlError(error_type, message) from exc

    def open(self) -> None:
        with self.translated(opening=True):
            self.session.open()

    def statement(self, sql: str, params: list, *, is_last: bool) -> None:
        """Run one statement; deliver its rows if it is the last, else read and drop them."""
        self.watcher.raise_if_stopped()
        with self.translated():
            refusal = self.session.refusal(sql)
        if refusal:
            raise SqlError("ReadOnly", refusal)
        with self.translated():
            result = self.session.execute(sql, params)
        if is_last:
            self.deliver(result)
        elif result is not None:
            self.drain(result)
        self.watcher.raise_if_stopped()
        refusal = self.session.after_statement()
        if refusal:
            raise SqlError("ReadOnly", refusal)

    def drain(self, result) -> None:
        """Read an earlier statement to its end: its errors and side effects count, its rows
        go nowhere."""
        while True:
            self.watcher.raise_if_stopped()
            with self.translated():
                if not result.fetch(self.batch_size):
                    result.close()
                    return

    def deliver(self, result) -> None:
        """Stream the result to the hooks until it ends or a limit is hit."""
        if result is None:
            self.hooks.on_columns([])
            return
        first = True
        while True:
            self.watcher.raise_if_stopped()
            with self.translated():
                batch = result.fetch(self.limits.fetch_size(self.batch_size))
                columns = result.describe(batch) if first else None
            if first:
                self.hooks.on_columns(columns)
                first = False
            rows = self.limits.take([[json_value(value) for value in row] for row in batch])
            if rows:
                self.hooks.on_rows(rows)
            if self.limits.truncated or not batch:
                break
        with self.translated():
            result.close()


class _Limits:
    """Counts delivered rows and bytes against max_rows and max_bytes."""

    def __init__(self, max_rows: int | None, max_bytes: int | None) -> None:
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.row_count = 0
        self.byte_count = 0
        self.truncated = False

    def fetch_size(self, batch_size: int) -> int:
        """How many rows to ask for next; one past max_rows tells a result of exactly
        max_rows rows from a longer one."""
        if self.max_rows is None:
            return batch_size
        return max(1, min(batch_size, self.max_rows - self.row_count + 1))

    def take(self, rows: list[list]) -> list[list]:
        """The leading rows that fit; sets `truncated` if any row did not."""
        if self.max_rows is not None and self.row_count + len(rows) > self.max_rows:
            rows = rows[: self.max_rows - self.row_count]
            self.truncated = True
        if self.max_bytes is not None:
            for index, row in enumerate(rows):
                # Counted as compact JSON: the rows' share of '[row,row,...]', brackets included.
                encoded = json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()
                size = len(encoded) + (1 if self.row_count + index else 2)
                if self.byte_count + size > self.max_bytes:
                    rows = rows[:index]
                    self.truncated = True
                    break
                self.byte_count += size
        self.row_count += len(rows)
        return rows
