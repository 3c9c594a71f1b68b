"""Site-level views: the front door and the health check."""

import logging

from django.contrib.auth.views import redirect_to_login
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.authentication import membership_of
from accounts.pages import refused
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


@require_GET
def home(request):
    """``/``: the history for a signed-in member; the login page (which comes back to the
    history) for anyone else. Never a 404: the banner and the admin's "View site" link here."""
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("pages:history"))
    if membership_of(request) is None:
        # Signed in but in no active account: an operator's place is the admin.
        if request.user.is_staff:
            return redirect("admin:index")
        return refused(request, "You are not a member of any active account.")
    return redirect("pages:history")
