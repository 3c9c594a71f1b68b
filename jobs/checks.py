"""System checks of the jobs app's settings (``manage.py check``)."""

import os

from django.core import checks


@checks.register(checks.Tags.security)
def obsolete_data_source_dirs(app_configs, **kwargs):
    """JOBPORTAL_DATA_SOURCE_DIRS was one list for every account; it is no longer read."""
    if not os.environ.get("JOBPORTAL_DATA_SOURCE_DIRS"):
        return []
    return [checks.Warning(
        "JOBPORTAL_DATA_SOURCE_DIRS is no longer read: SQLite/DuckDB data source files of an "
        "account must lie in JOBPORTAL_DATA_SOURCE_ROOT/<account slug>/.",
        hint="Move the files there (docs/configuration.md) and unset the variable.",
        id="jobs.W001")]
