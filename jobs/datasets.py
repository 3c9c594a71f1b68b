"""Uploaded datasets: read a CSV or Parquet file with DuckDB, store it, register it.

DuckDB reads the upload the way queries will read it later (``read_csv_auto`` /
``read_parquet`` over a file whose name ends in its format), so the registered columns and
row count are what a query sees. An upload that DuckDB cannot read from start to end, or
only by skipping its first lines, is refused; a refused upload leaves nothing behind: no row,
no stored file.
"""

import logging
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction

from jobs.executors.sql_engines import load_duckdb
from jobs.models import Dataset, DatasetFormat

logger = logging.getLogger(__name__)

READERS = {DatasetFormat.CSV: "read_csv_auto", DatasetFormat.PARQUET: "read_parquet"}
SUFFIXES = {".csv": DatasetFormat.CSV, ".parquet": DatasetFormat.PARQUET,
            ".pq": DatasetFormat.PARQUET}
INSPECT_SECONDS = 120  # a web request must not hang on a pathological file
PREVIEW_ROWS = 20  # shown on the dataset's page


class DatasetError(ValueError):
    """An upload that cannot become a dataset; ``field`` is the request field to blame."""

    def __init__(self, message, field="file"):
        super().__init__(message)
        self.field = field
        self.message = message


def detect_format(upload):
    """csv or parquet: from the file name, else from Parquet's magic bytes."""
    suffix = Path(upload.name or "").suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    upload.seek(0)
    magic = upload.read(4)
    upload.seek(0)
    return DatasetFormat.PARQUET if magic == b"PAR1" else DatasetFormat.CSV


def _quoted(text):
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def _reading(path, file_format):
    """``(conn, source)``: an in-memory DuckDB that may read ``path`` only (no extensions, no
    other file, configuration locked), interrupted after INSPECT_SECONDS, and the SQL source of
    the file; DuckDB's errors raised as :class:`DatasetError`."""
    duckdb = load_duckdb()
    conn = duckdb.connect(":memory:", config={
        "autoinstall_known_extensions": False, "autoload_known_extensions": False,
        "allow_community_extensions": False,
    })
    timer = threading.Timer(INSPECT_SECONDS, conn.interrupt)
    timer.start()
    try:
        conn.execute("SET allowed_paths = $paths", {"paths": [path]})
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
        yield conn, f"{READERS[file_format]}({_quoted(path)})"
    except duckdb.InterruptException as exc:
        raise DatasetError(f"Reading the file took longer than {INSPECT_SECONDS} s.") from exc
    except duckdb.Error as exc:
        # DuckDB's first line says what is wrong; the rest repeats our SQL.
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"Not a readable {file_format} file: {message}") from exc
    finally:
        timer.cancel()
        conn.close()


def inspect(path, file_format):
    """``(columns, row_count)`` of the file, read by DuckDB with access to that file only."""
    with _reading(path, file_format) as (conn, source):
        if file_format == DatasetFormat.CSV:
            skipped = conn.execute(f"SELECT SkipRows FROM sniff_csv({_quoted(path)})").fetchone()
            if skipped and skipped[0]:
                raise DatasetError(
                    f"Not a consistent CSV file: its first {skipped[0]} line(s) do not have "
                    "the columns of the rest.")
        described = conn.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        (row_count,) = conn.execute(f"SELECT count(*) FROM {source}").fetchone()
    columns = [{"name": row[0], "type": row[1]} for row in described]
    if not columns:
        raise DatasetError("The file has no columns.")
    return columns, row_count


def preview(dataset, rows=PREVIEW_ROWS):
    """The first ``rows`` rows of ``dataset`` as text, read the way :func:`inspect` reads (the
    dataset page shows them to whoever may read the dataset, no command needed)."""
    with tempfile.TemporaryDirectory(prefix="jobportal-preview-") as scratch, _reading(
            local_path(dataset, scratch), dataset.format) as (conn, source):
        found = conn.execute(f"SELECT * FROM {source} LIMIT {int(rows)}").fetchall()
    return [["" if value is None else str(value) for value in row] for row in found]


def _copy_within_limit(upload, destination, limit):
    """Copy the upload to a local file; DatasetError once it passes ``limit`` bytes."""
    size = 0
    upload.seek(0)
    with destination.open("wb") as out:
        for chunk in upload.chunks():
            size += len(chunk)
            if size > limit:
                raise DatasetError(f"The file is larger than the limit of {limit} bytes.")
            out.write(chunk)
    if size == 0:
        raise DatasetError("The file is empty.")
    return size


def register(*, account, user, name, upload, file_format=None, description=""):
    """Inspect, store and record an uploaded file as dataset ``name`` of ``account``.

    The file is inspected from a local copy named like the stored one, stored only once it
    reads cleanly, and deleted again if the row cannot be written (e.g. the name was taken
    meanwhile). Raises DatasetError for everything the uploader can fix.
    """
    limit = settings.JOBPORTAL["MAX_DATASET_BYTES"]
    if upload.size is not None and upload.size > limit:
        raise DatasetError(f"The file is larger than the limit of {limit} bytes.")
    file_format = file_format or detect_format(upload)
    dataset = Dataset(account=account, name=name, description=description, format=file_format,
                      created_by=user)
    with tempfile.TemporaryDirectory(prefix="jobportal-upload-") as scratch:
        local = Path(scratch) / f"upload.{file_format}"
        dataset.size = _copy_within_limit(upload, local, limit)
        dataset.columns, dataset.row_count = inspect(str(local), file_format)
        with local.open("rb") as handle:
            dataset.file.save(local.name, File(handle), save=False)
    try:
        with transaction.atomic():
            dataset.save()
    except IntegrityError as exc:
        dataset.file.delete(save=False)
        raise DatasetError(f"A dataset named {name!r} already exists.", field="name") from exc
    except BaseException:
        dataset.file.delete(save=False)
        raise
    return dataset


def delete(dataset):
    """Delete the row, then (once that is committed) the stored file."""
    name, storage = dataset.file.name, dataset.file.storage
    with transaction.atomic():
        dataset.delete()
        transaction.on_commit(lambda: _delete_file(storage, name))


def _delete_file(storage, name):
    try:
        storage.delete(name)
    except OSError:
        # The row is gone, so the file is unreachable; an operator can sweep leftovers.
        logger.warning("could not delete dataset file %s", name, exc_info=True)


def local_path(dataset, scratch):
    """A local file path of the dataset for DuckDB: the stored file itself when the storage is
    a file system, else a copy in ``scratch`` named like the table."""
    try:
        return dataset.file.path
    except NotImplementedError:
        target = Path(scratch) / f"{dataset.name}.{dataset.format}"
        with dataset.file.open("rb") as source, target.open("wb") as out:
            shutil.copyfileobj(source, out, 1024 * 1024)
        return str(target)
