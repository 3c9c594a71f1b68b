"""RFC 9457 problem details for every API error.

DRF exceptions, Django's 404/500 handlers under ``/api/`` and unhandled exceptions all end up
as ``application/problem+json`` with ``type``, ``title``, ``status``, ``detail`` and
``instance``; validation errors add ``errors`` (field -> messages). Tracebacks never leave
the server: they go to the log.
"""

import logging
import re
from http import HTTPStatus

from django.apps import apps
from django.conf import settings
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import IntegrityError, models
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://jobportal.dev/problems/"


class Conflict(exceptions.APIException):
    """The request is valid but the resource's state forbids it (e.g. cancel a finished command)."""

    status_code = 409
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    """413: the request body is larger than the endpoint accepts."""

    status_code = 413
    default_detail = "The request body is too large."
    default_code = "payload-too-large"

    def __init__(self, limit, setting="DATA_UPLOAD_MAX_MEMORY_SIZE"):
        super().__init__(f"The request body is larger than the limit of {limit} bytes "
                         f"({limit / 1024**2:.3g} MiB, {setting}).")
        self.limit = limit


def public_path(request):
    """The request's path and query without an ``api_key`` (a secret in the query string)."""
    return remove_query_param(request.get_full_path(), "api_key")


def public_url(request):
    """The absolute request URL without an ``api_key``, for links in responses."""
    return remove_query_param(request.build_absolute_uri(), "api_key")


def problem(status, detail=None, *, instance="", code=None, errors=None, **extra):
    """The problem-details body for ``status``."""
    phrase = HTTPStatus(status).phrase
    body = {
        "type": f"{TYPE_BASE}{code}" if code else "about:blank",
        "title": phrase,
        "status": status,
        "detail": detail or phrase,
        "instance": instance,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return body


def _flatten(detail):
    if isinstance(detail, dict):
        return {key: _messages(value) for key, value in detail.items()}
    return {"non_field_errors": _messages(detail)}


def _messages(value):
    if isinstance(value, dict):
        return [f"{key}: {msg}" for key, inner in value.items() for msg in _messages(inner)]
    if isinstance(value, list):
        return [msg for item in value for msg in _messages(item)]
    return [str(value)]


def _client_error(exc):
    """The APIException for what Django refuses while reading a body, or None."""
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    if isinstance(exc, TooManyFieldsSent):
        return exceptions.ValidationError({"non_field_errors": [
            f"More than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields "
            "(DATA_UPLOAD_MAX_NUMBER_FIELDS)."]})
    if isinstance(exc, TooManyFilesSent):
        return exceptions.ValidationError({"non_field_errors": [
            f"More than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files "
            "(DATA_UPLOAD_MAX_NUMBER_FILES)."]})
    return None


def _unique_fields(exc):
    """The fields (other than ``account``) of the unique constraint ``exc`` broke, or ()."""
    cause = exc.__cause__
    name = getattr(getattr(cause, "diag", None), "constraint_name", None)  # PostgreSQL
    columns = ()
    if name is None:  # SQLite names the index, or the columns as table.column
        text = str(cause or exc)
        index = re.search(r"UNIQUE constraint failed: index '([^']+)'", text)
        if index:
            name = index.group(1)
        elif listed := re.search(r"UNIQUE constraint failed: (.+)", text):
            columns = tuple(part.rsplit(".", 1)[-1].strip()
                            for part in listed.group(1).split(","))
    for model in apps.get_models():
        for constraint in model._meta.constraints:
            if not isinstance(constraint, models.UniqueConstraint):
                continue
            fields = list(constraint.fields) or [
                ref for expression in constraint.expressions
                for ref in _referenced(expression)]
            concrete = [model._meta.get_field(f) for f in fields]
            if constraint.name == name or (
                    columns and sorted(f.column for f in concrete) == sorted(columns)
                    and model._meta.db_table in str(cause or exc)):
                return tuple(f.name for f in concrete if f.name != "account")
    return ()


def _referenced(expression):
    """Field names an index expression (``Lower("name")``, ``F("account")``) refers to."""
    if isinstance(expression, models.F):
        return [expression.name]
    return [name for source in expression.get_source_expressions()
            for name in _referenced(source)]


def _integrity_error(exc):
    """A concurrent request won a unique value between our check and our write: the client
    hears what it would have heard a moment later (400 naming the field), never a 500."""
    if not (getattr(exc.__cause__, "sqlstate", None) == "23505"
            or "UNIQUE constraint failed" in str(exc)):
        return exc  # not a clash of values: a bug, answered as one (500, logged)
    fields = _unique_fields(exc)
    if fields:
        return exceptions.ValidationError({field: [
            f"Another request has just taken this {field}; choose another."]
            for field in fields})
    return Conflict("This change conflicts with one made at the same time; try again.")


def clash_message(exc):
    """What a page says when the IntegrityError ``exc`` is a request that lost a race for a
    unique value (the words the API answers with), or None when it is something else."""
    answer = _integrity_error(exc)
    if isinstance(answer, exceptions.ValidationError):
        return " ".join(str(text) for texts in answer.detail.values() for text in texts)
    if isinstance(answer, Conflict):
        return str(answer.detail)
    return None


def exception_handler(exc, context):
    """DRF exception handler producing problem details (and logging what was unexpected)."""
    request = context.get("request")
    instance = public_path(request) if request is not None else ""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, IntegrityError):
        exc = _integrity_error(exc)
    else:
        exc = _client_error(exc) or exc
    if not isinstance(exc, exceptions.APIException):
        view = context.get("view")
        logger.exception("Unhandled error in %s", type(view).__name__ if view else "API view")
        body = problem(500, "The server failed to handle this request; it has been logged.",
                       instance=instance, code="server-error")
        return Response(body, status=500, content_type=PROBLEM_CONTENT_TYPE)

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        fields = ", ".join(errors)
        body = problem(400, f"Invalid input: {fields}.", instance=instance,
                       code="validation-error", errors=errors)
    else:
        detail = exc.detail if isinstance(exc.detail, str) else "; ".join(_messages(exc.detail))
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else None
        extra = {"max_bytes": exc.limit} if getattr(exc, "limit", None) else {}
        body = problem(exc.status_code, str(detail), instance=instance,
                       code=code.replace("_", "-") if code else None, **extra)
    return Response(body, status=exc.status_code, headers=headers,
                    content_type=PROBLEM_CONTENT_TYPE)


def problem_response(request, status, detail=None, code=None):
    return JsonResponse(
        problem(status, detail, instance=public_path(request), code=code),
        status=status, content_type=PROBLEM_CONTENT_TYPE,
    )


def _wants_problem(request):
    accept = request.headers.get("Accept", "")
    return request.path.startswith("/api/") or "json" in accept


def handler404(request, exception=None):
    """404 outside DRF views: problem details for API clients, Django's page for browsers."""
    if _wants_problem(request):
        return problem_response(request, 404, "No such resource.", code="not-found")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if _wants_problem(request):
        return problem_response(request, 500, "The server failed to handle this request; "
                                "it has been logged.", code="server-error")
    from django.views.defaults import server_error

    return server_error(request)
