"""The Celery app of the Celery task engine (``JOBPORTAL_TASK_BACKEND=celery``).

django-tasks-celery sends through the app named in ``TASKS["default"]["OPTIONS"]["CELERY_APP"]``
(this one); without it, it would use Celery's default app, which never reads the ``CELERY_*``
settings. Configured from Django settings (namespace ``CELERY``); the worker imports the task
modules listed in ``CELERY_IMPORTS``. Start workers with ``manage.py worker`` (which also runs
the portal's reaper), see docs/scale-out-celery.md.
"""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobportal.settings")

app = Celery("jobportal")
app.config_from_object("django.conf:settings", namespace="CELERY")


@signals.worker_process_init.connect
def _init_pool_process(**kwargs):
    from jobs.worker.celery_engine import init_pool_process

    init_pool_process()


@signals.task_prerun.connect
def _refresh_stale_connections(**kwargs):
    # CELERY_DB_REUSE_MAX stops Celery's fix-up from closing every connection around every task;
    # this keeps CONN_MAX_AGE and the health checks working, as db_worker does per task.
    from django.db import close_old_connections

    close_old_connections()
