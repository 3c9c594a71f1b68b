"""WSGI application for benchmarks: the portal with bench/urls.py as its URLconf."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobportal.settings")

from django.conf import settings

settings.ROOT_URLCONF = "bench.urls"

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
