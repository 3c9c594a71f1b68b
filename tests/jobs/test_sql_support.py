"""Helpers shared by the test_sql_* modules (no tests here).

Plain functions rather than fixtures, so each module states the fixtures it uses. Data source
files live in the test's tmp_path, under data-sources/<account slug>/ (JOBPORTAL_DATA_SOURCE_ROOT
for worker processes); uploads go to a media root there too, which worker processes are
pointed at with DJANGO_MEDIA_ROOT.
"""

import contextlib
import io
import os
import secrets
import sqlite3
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg import conninfo
from psycopg import sql as pgsql

from jobs.models import Command
from tests.jobs.conftest import wait_for

ADMIN_DSN = os.environ.get("JOBPORTAL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PEOPLE = [(1, "alice", 31), (2, "bob", 27), (3, "carol", 45)]


def use_media_root(settings, tmp_path):
    """Uploads of this test go to tmp_path/media; returns the env that tells workers so."""
    media = tmp_path / "media"
    media.mkdir(exist_ok=True)
    settings.MEDIA_ROOT = str(media)
    return {"DJANGO_MEDIA_ROOT": str(media)}


def use_data_source_root(settings, tmp_path):
    """File data sources of this test live under tmp_path/data-sources/<account slug>/, made
    for acme and globex (the fixtures' accounts); returns the env that tells workers so."""
    root = tmp_path / "data-sources"
    for slug in ("acme", "globex"):
        (root / slug).mkdir(parents=True, exist_ok=True)
    settings.JOBPORTAL = {**settings.JOBPORTAL, "DATA_SOURCE_ROOT": root}
    return {"JOBPORTAL_DATA_SOURCE_ROOT": str(root)}


def submit_sql(actor, query=None, **body):
    """POST /commands/ for a SQL command; returns the response (any status)."""
    payload = {"command_type": "sql", **body}
    if query is not None:
        payload["query"] = query
    return actor.client.post("/api/v1/commands/", payload, format="json")


def submitted(response):
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def run_queued(start_worker, env):
    """Run everything queued in one real worker process, to the end."""
    proc = start_worker("--once", env=env)
    assert proc.wait(timeout=120) == 0, Path(proc.log_path).read_text()


def finished(pk, timeout=60):
    return wait_for(lambda: (c := Command.objects.get(pk=pk)).is_terminal and c, timeout,
                    message=f"command {pk} to finish")


def page(actor, pk, **params):
    return actor.client.get(f"/api/v1/commands/{pk}/results/", params)


def rows_of(actor, pk, **params):
    response = page(actor, pk, **params)
    assert response.status_code == 200, response.json()
    return response.json()["rows"]


def upload(actor, name, filename, data, **extra):
    handle = io.BytesIO(data)
    handle.name = filename
    return actor.client.post("/api/v1/datasets/", {"name": name, "file": handle, **extra},
                             format="multipart")


def csv_bytes(header, rows):
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def parquet_bytes(columns):
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


def sqlite_file(path, rows=PEOPLE):
    """A SQLite file with table people(id, name, age)."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)")
        conn.executemany("INSERT INTO people VALUES (?, ?, ?)", rows)
    return str(path)


def sqlite_rows(path):
    with contextlib.closing(sqlite3.connect(path)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master ORDER BY 1")]
        return tables, conn.execute("SELECT * FROM people ORDER BY id").fetchall()


@contextlib.contextmanager
def pg_database(rows=PEOPLE):
    """A throwaway database whose table ``people`` belongs to a non-superuser role; yields
    {"user_dsn", "owner_dsn"}. Skips the test when the server cannot be reached."""
    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at {ADMIN_DSN}: {exc}")
    suffix = secrets.token_hex(4)
    name, role, password = f"jp_sqlapi_{suffix}", f"jp_sqlapi_{suffix}_user", secrets.token_hex()
    ident = pgsql.Identifier
    admin.execute(pgsql.SQL("CREATE DATABASE {}").format(ident(name)))
    admin.execute(pgsql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                            "PASSWORD {}").format(ident(role), pgsql.Literal(password)))
    owner_dsn = conninfo.make_conninfo(ADMIN_DSN, dbname=name)
    try:
        with psycopg.connect(owner_dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE people (id integer PRIMARY KEY, name text, age integer)")
            conn.cursor().executemany("INSERT INTO people VALUES (%s, %s, %s)", rows)
            conn.execute(pgsql.SQL("ALTER TABLE people OWNER TO {}").format(ident(role)))
            # The role may create tables, so a refused CREATE proves the read-only mode.
            conn.execute(pgsql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(ident(role)))
        yield {"user_dsn": conninfo.make_conninfo(ADMIN_DSN, dbname=name, user=role,
                                                  password=password),
               "owner_dsn": owner_dsn, "password": password}
    finally:
        admin.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident(name)))
        admin.execute(pgsql.SQL("DROP ROLE IF EXISTS {}").format(ident(role)))
        admin.close()


def pg_rows(owner_dsn):
    with psycopg.connect(owner_dsn) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                              "ORDER BY 1").fetchall()
        return tables, conn.execute("SELECT * FROM people ORDER BY id").fetchall()
