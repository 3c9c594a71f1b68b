"""The floor server: the plainest DRF views over the portal's table, served like the portal.

No middleware, authentication, permission or throttle; one raw SQL statement each, the rows
returned as dicts. Same database settings as the portal (CONN_MAX_AGE, health checks), and the
same server as ``make run``: the supervisor listening, uvicorn processes through
``jobportal.web`` with the portal's ASGI handler (requests on long-lived threads), so a ratio
against it measures the portal's own work (bench/portal.py ``Portal.floor`` starts it).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobportal.settings")

from django.conf import settings

settings.ROOT_URLCONF = "bench.floor_urls"
settings.MIDDLEWARE = []

from jobportal.asgi import PooledThreadsASGIHandler  # noqa: E402 (after the settings)

application = PooledThreadsASGIHandler(int(os.environ.get("JOBPORTAL_WEB_THREADS", "8")))
