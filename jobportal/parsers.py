"""Request parsers of the API (``DEFAULT_PARSER_CLASSES``): DRF's, plus the checks that turn
hostile bodies into 400/413 problems instead of 500s.

- JSON: nesting deeper than 32 levels, NUL characters and non-finite numbers are refused with
  a 400 naming the field and the path (:mod:`jobportal.untrusted`).
- Forms and multipart: NUL characters in a field name or value are refused the same way.
- Size: Django raises ``RequestDataTooBig`` for JSON and form bodies over
  ``DATA_UPLOAD_MAX_MEMORY_SIZE`` and for the non-file parts of multipart bodies over it;
  :mod:`jobportal.problems` answers 413. Files in multipart bodies go to disk, not memory,
  so Django does not count them: a multipart body whose ``Content-Length`` passes the view's
  ``body_limit()`` (default ``DATA_UPLOAD_MAX_MEMORY_SIZE``; the dataset upload allows
  ``JOBPORTAL_MAX_DATASET_BYTES``) answers the same 413 before any of it is read.
"""

from django.conf import settings
from rest_framework import exceptions, parsers
from rest_framework.settings import api_settings
from rest_framework.utils import json as drf_json

from jobportal import untrusted
from jobportal.problems import PayloadTooLarge


def body_limit(parser_context):
    """``(bytes, setting name)``: how large a body the view accepts (its ``body_limit()``)."""
    view = (parser_context or {}).get("view")
    if hasattr(view, "body_limit"):
        return view.body_limit()
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE, "DATA_UPLOAD_MAX_MEMORY_SIZE"


def _refuse_large(parser_context):
    request = (parser_context or {}).get("request")
    limit, name = body_limit(parser_context)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
    except ValueError:
        length = 0
    if limit is not None and length > limit:
        raise PayloadTooLarge(limit, name)


def refusal(exc, prefix=()):
    """The 400 for an :class:`~jobportal.untrusted.UntrustedJSONError`, under its field."""
    field = exc.field or api_settings.NON_FIELD_ERRORS_KEY
    return exceptions.ValidationError({field: [exc.describe(prefix)]})


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding)
            constant = drf_json.strict_constant if self.strict else None
            return untrusted.loads(text, parse_constant=constant)
        except untrusted.UntrustedJSONError as exc:
            raise refusal(exc) from exc
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc


def _check_form(data):
    """400 naming the field if a field name or a (non-file) value holds a NUL."""
    for key, values in data.lists():
        bad_key = "\x00" in key
        if bad_key or any(isinstance(v, str) and "\x00" in v for v in values):
            field = key.split(".", 1)[0].split("[", 1)[0] or api_settings.NON_FIELD_ERRORS_KEY
            where = "field names" if bad_key else "values"
            raise exceptions.ValidationError(
                {field: [f"NUL characters (\\u0000) are not allowed in {where}."]})


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _check_form(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        _refuse_large(parser_context)
        parsed = super().parse(stream, media_type, parser_context)
        _check_form(parsed.data)
        return parsed
