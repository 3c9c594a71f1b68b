"""What the compatibility shapes called from other programs and browsers share over HTTP.

- Token authentication only (every header style of :mod:`accounts.authentication`): no
  session cookies, so a page of another origin can never act with a signed-in browser's rights.
- CORS: ``Access-Control-Allow-Origin`` (``JOBPORTAL_CORS_ALLOW_ORIGIN``, ``*`` by default)
  on every response, errors included, and preflights (``OPTIONS``) answered without a
  credential, since browsers send none with them.
- ``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` on every response: what
  :mod:`accounts.throttling` left on the request, never a second count. A shape whose
  documentation bounds them (Supermetrics: at most 10,000) caps them at ``rate_ceiling``.
"""

from django.conf import settings
from django.utils.cache import patch_vary_headers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import TokenAuthentication
from accounts.permissions import IsMember
from accounts.throttling import rate_state
from jobs import reads

EXPOSED_HEADERS = ("X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, "
                   "WWW-Authenticate, Location")
PREFLIGHT_MAX_AGE = 600


class CompatView(APIView):
    """Base view of a compatibility shape: token authentication, CORS, rate-limit headers."""

    authentication_classes = [TokenAuthentication]
    permission_classes = [IsMember]
    allowed_request_headers = "Authorization, Content-Type, X-API-Key, X-AUTH-TOKEN"
    rate_ceiling = None  # the largest X-RateLimit-* value the shape documents

    def initial(self, request, *args, **kwargs):
        if request.method == "OPTIONS":
            # A preflight carries no credential: content negotiation only, no auth or throttle.
            self.format_kwarg = self.get_format_suffix(**kwargs)
            request.accepted_renderer, request.accepted_media_type = (
                self.perform_content_negotiation(request))
            return
        super().initial(request, *args, **kwargs)

    def options(self, request, *args, **kwargs):
        """CORS preflight: which methods and request headers a page of another origin may use."""
        response = Response(status=204)
        response["Access-Control-Allow-Methods"] = ", ".join(self.allowed_methods)
        response["Access-Control-Allow-Headers"] = self.allowed_request_headers
        response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = settings.JOBPORTAL["CORS_ALLOW_ORIGIN"]
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if origin != "*":
            patch_vary_headers(response, ["Origin"])
        limit, remaining, reset = rate_state(request)
        if self.rate_ceiling is not None:
            limit, remaining = min(limit, self.rate_ceiling), min(remaining, self.rate_ceiling)
        response["X-RateLimit-Limit"] = str(limit)
        response["X-RateLimit-Remaining"] = str(remaining)
        response["X-RateLimit-Reset"] = str(reset)
        return response


def sync_wait(command, seconds):
    """``command`` once it has ended, or as it is after ``seconds`` (capped at
    ``JOBPORTAL_MAX_SYNC_WAIT_SECONDS``): the synchronous modes of the shapes."""
    seconds = min(max(seconds, 0), settings.JOBPORTAL["MAX_SYNC_WAIT_SECONDS"])
    if seconds <= 0:
        return command
    return reads.wait_for_end(command, seconds)


def _header(description, **schema):
    return {"description": description, "schema": schema}


def response_headers(ceiling=None):
    """The headers of :class:`CompatView` responses for the OpenAPI document (applied to every
    response, errors included, by jobportal.schema's ``x-response-headers`` rule)."""
    bound = {"maximum": ceiling} if ceiling else {}
    return {
        "*": {
            "X-RateLimit-Limit": _header("Requests per hour of your account.",
                                         type="integer", minimum=1, **bound),
            "X-RateLimit-Remaining": _header("Requests left in this hour.", type="integer",
                                             minimum=0, **bound),
            "Access-Control-Allow-Origin": _header("JOBPORTAL_CORS_ALLOW_ORIGIN (default *).",
                                                   type="string", maxLength=255),
        },
        "401": {"WWW-Authenticate": _header("Bearer token required.", type="string",
                                            maxLength=255, pattern="^Bearer.*")},
        "429": {"Retry-After": _header("Seconds until the rate limit resets.", type="integer",
                                       minimum=1, maximum=86_400)},
    }
