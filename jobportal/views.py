"""Site-level views: health check."""

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from jobs import sandbox

logger = logging.getLogger(__name__)


@require_GET
def healthz(request):
    """200 once the database answers, 503 when it does not. No authentication: for probes.
    ``sandbox`` says how this node would run shell commands (``bubblewrap``, ``unavailable``:
    they are refused, ``off``: unsandboxed); it does not change the status."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not healthy"; say so, don't crash
        logger.warning("healthz: database unreachable: %s", exc)
        return JsonResponse({"status": "unavailable", "database": "unreachable",
                             "sandbox": sandbox.status().mode}, status=503)
    return JsonResponse({"status": "ok", "database": "ok", "sandbox": sandbox.status().mode})
