"""Where a data source may point: checked when it is saved and again by the worker before every
run (settings, files and symlinks may have changed since).

- **Files** (SQLite, DuckDB) must lie inside their account's own directory,
  ``<JOBPORTAL_DATA_SOURCE_ROOT>/<account slug>/``, so one account's admin can name neither
  another account's files nor anything else on the workers (``/etc/passwd``), and never the
  portal's own database, secret key, uploads or work directories.
- **PostgreSQL** DSNs may not point at the portal's own database, and when
  ``JOBPORTAL_POSTGRES_HOSTS`` is set, must name hosts from that list only.

Messages never repeat the target: a DSN holds a password.
"""

from pathlib import Path

from django.conf import settings
from psycopg import ProgrammingError, conninfo


def account_directory(account):
    """The directory this account's file data sources must lie in (resolved)."""
    return (Path(settings.JOBPORTAL["DATA_SOURCE_ROOT"]) / account.slug).resolve()


def _portal_paths():
    """Directories and files of the portal itself: no data source may point into them, or a
    tenant could read the portal's database, secret key or other accounts' uploads."""
    paths = [settings.DATA_DIR, settings.MEDIA_ROOT, settings.BASE_DIR,
             settings.JOBPORTAL["WORK_ROOT"], Path(settings.DATA_DIR) / "secret_key"]
    own = settings.DATABASES["default"]
    if own["ENGINE"].endswith("sqlite3"):
        paths.append(own["NAME"])
    return [Path(path).resolve() for path in paths]


def file_target_problem(text, account):
    """Why ``text`` may not be a file data source of ``account``, or None."""
    path = Path(text)
    home = account_directory(account)
    where = f"this account's data source directory ({home}/)"
    if not path.is_absolute():
        return f"Must be an absolute path of a file in {where}."
    resolved = path.resolve()  # symlinks out of the directory are followed, then refused
    if resolved == home or not resolved.is_relative_to(home):
        return f"Must be a file in {where}."
    # The portal's own paths are refused unless they hold the account directory, which is
    # the operator's choice (the default root is under the data directory).
    for own in _portal_paths():
        if home.is_relative_to(own) and home != own:
            continue
        if resolved == own or resolved.is_relative_to(own):
            return "May not point into the portal's own code, data or media directories."
    return None


def allowed_postgres_hosts():
    """The hosts PostgreSQL data sources may name (lower case); empty means any."""
    return {host.lower() for host in settings.JOBPORTAL["POSTGRES_HOSTS"]}


def _hosts_problem(given):
    allowed = allowed_postgres_hosts()
    if not allowed:
        return None
    if "service" in given:
        return ("A service name cannot be checked against the hosts allowed for PostgreSQL "
                "data sources; give host= instead.")
    named = [h for key in ("host", "hostaddr") for h in given.get(key, "").split(",") if h]
    if not given.get("host"):
        # Without a host libpq takes PGHOST from the worker's environment or a local socket.
        return "Must name its host (host=… or postgresql://host/…)."
    if any(host.lower() not in allowed for host in named):
        return ("Names a host that is not allowed for PostgreSQL data sources "
                "(JOBPORTAL_POSTGRES_HOSTS).")
    return None


def dsn_problem(dsn):
    """Why ``dsn`` may not be a PostgreSQL data source, or None."""
    try:
        given = conninfo.conninfo_to_dict(dsn)
    except ProgrammingError:
        return "Not a valid PostgreSQL connection string (key=value pairs or a postgresql:// URL)."
    own = settings.DATABASES["default"]
    if own["ENGINE"].endswith("postgresql"):
        local = {"", "localhost", "127.0.0.1", "::1", own.get("HOST") or ""}
        same_db = given.get("dbname", given.get("user")) == own["NAME"]
        if same_db and (given.get("host") or "") in local:
            return "May not point at the portal's own database."
    return _hosts_problem(given)
