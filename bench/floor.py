"""The floor server (gunicorn bench.floor): the plainest DRF views over the portal's table.

No middleware, authentication, permission or throttle; one raw SQL statement each, the rows
returned as dicts. Same database settings as the portal (CONN_MAX_AGE, health checks).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobportal.settings")

from django.conf import settings

settings.ROOT_URLCONF = "bench.floor_urls"
settings.MIDDLEWARE = []

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
