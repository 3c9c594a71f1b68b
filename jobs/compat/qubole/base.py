"""The base of every Qubole endpoint: token authentication (``X-AUTH-TOKEN``), the account's
rate limit, and Qubole's error format.

Errors are ``{"error": {"error_code": N, "error_message": "..."}}`` (with ``errors``: field ->
messages for invalid input). The codes are chosen for the SDK's retry rules: it retries 429,
449, 5xx and timeouts for minutes, so a bad token is always 401, invalid input 422 (400 when
the body is not JSON), an object of another account 404, and nothing the caller can fix is
ever a 5xx.
"""

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import policy
from accounts.authentication import membership_of
from jobportal import problems

ERROR_CONTENT_TYPE = "application/json"


class Invalid(exceptions.APIException):
    """422: the request names something Qubole's shape cannot do here (``field`` says what)."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "invalid"

    def __init__(self, message, field=None, **extra):
        super().__init__(message)
        self.field = field
        self.extra = extra


def error_body(code, message, errors=None, **extra):
    """Qubole's error object."""
    body = {"error": {"error_code": code, "error_message": message}}
    if errors:
        body["errors"] = errors
    body.update(extra)
    return body


def exception_handler(exc, context):
    """The portal's handling (logging, headers, which status), in Qubole's format; field
    errors are 422 rather than the portal's 400, as Qubole answers them."""
    if isinstance(exc, Invalid):
        errors = {exc.field: [str(exc.detail)]} if exc.field else None
        return Response(error_body(422, str(exc.detail), errors, **exc.extra), status=422,
                        content_type=ERROR_CONTENT_TYPE)
    answer = problems.exception_handler(exc, context)
    body = answer.data
    code = answer.status_code
    if code == 400 and body.get("errors"):
        code = 422
    response = Response(error_body(code, body["detail"], body.get("errors")), status=code,
                        content_type=ERROR_CONTENT_TYPE)
    for name in ("WWW-Authenticate", "Retry-After"):
        if name in answer:
            response[name] = answer[name]
    return response


class QuboleView(APIView):
    """A Qubole endpoint: authenticated, throttled, answering errors in Qubole's format."""

    def get_exception_handler(self):
        return exception_handler

    @property
    def member(self):
        return membership_of(self.request)

    def require(self, action, resource, obj=None, command_type=None):
        """403 unless the caller's role allows it (the object is already known visible)."""
        if not policy.can(self.member, action, resource, obj=obj, command_type=command_type):
            raise exceptions.PermissionDenied(f"Your role may not {action} {resource}.")


def not_found(noun, pk):
    """404 for an object that is not in the caller's account (or not theirs to see)."""
    return exceptions.NotFound(f"No {noun} {pk} in your account.")


def whole(params, name, default, minimum=0, maximum=None):
    """Query parameter ``name`` as a whole number (422 naming it otherwise)."""
    raw = params.get(name)
    if raw in (None, ""):
        return default
    text = str(raw)
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise Invalid(f"{name} must be a whole number.", field=name)
    value = int(text)
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise Invalid(f"{name} must be at least {minimum}{upper}.", field=name)
    return value


def flag(params, name):
    """A Qubole boolean parameter: true/false, 1/0, True/False (422 otherwise)."""
    raw = params.get(name)
    if raw in (None, ""):
        return False
    text = str(raw).lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise Invalid(f"{name} must be true or false.", field=name)
