"""What a Supermetrics request asks for: the query object, its token, the command it names or
starts. No HTTP replies here (see :mod:`.views`); errors are DRF exceptions the shape's
handler words."""

import ast
import re
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from django.http import QueryDict
from rest_framework import exceptions, serializers

from jobportal import untrusted
from jobportal.fields import JSONField, StrictCharField
from jobs import reads
from jobs.api.serializers import SubmitSerializer
from jobs.api.views import submission_errors
from jobs.models import CommandType, Source
from jobs.parameters import placeholders
from jobs.submission import submit

SCHEDULE_ID = r"^[A-Za-z0-9_-]+$"
SCHEDULE_ID_RE = re.compile(SCHEDULE_ID)
MAX_ID_CHARS = 50
# Names a command itself: the schedule id of a command whose submission id Supermetrics'
# pattern cannot spell, and every reply's request id (the official client's documented poll
# passes the request id as the schedule id).
ALIAS_RE = re.compile(r"^cmd-(\d{1,18})(?:-[0-9a-f]{16})?$")
MAX_OFFSET = 1_000_000
SAVED_QUERY_RE = re.compile(r"^(?:qry_)?(\d{1,18})$")
LIST_FIELDS = {"ds_accounts", "ds_segments", "ds_users", "fields", "order_rows"}
MAX_LITERAL_CHARS = 10_000
DAYS_AGO_RE = re.compile(r"^(\d{1,5})daysago$")
# Portal field -> the Supermetrics field a client sent it as.
FIELD_NAMES = {"saved_query": "ds_id", "data_source": "ds_id", "submission_id": "schedule_id",
               "parameters": "settings"}


class StatusNotFound(exceptions.NotFound):
    """No query with this schedule id that the caller may read."""


# -- the query object -----------------------------------------------------------------------


def _decoded(name, text, literal=False):
    """A JSON object sent as text (``literal``: or as the Python literal the official client
    makes of a ``settings`` object, ``{'k': 'v'}``); 400 naming ``name`` otherwise."""
    try:
        value = untrusted.loads(text)
    except untrusted.UntrustedJSONError as exc:
        raise exceptions.ValidationError({name: [exc.describe([name])]}) from exc
    except ValueError:
        value = None
        if literal and len(text) <= MAX_LITERAL_CHARS:
            try:
                value = ast.literal_eval(text)
                untrusted.check(value)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError,
                    untrusted.UntrustedJSONError):
                value = None
    if not isinstance(value, dict):
        raise exceptions.ValidationError({name: ["A JSON-encoded object."]})
    return value


def _flat(params):
    """Query or form parameters as one dict: lists for the list fields, else the last value."""
    return {key: values if key in LIST_FIELDS else values[-1]
            for key, values in params.lists()}


def query_object(request):
    """The Supermetrics query of a request, read once: flat parameters, a form or JSON body
    (POST), and the keys of the ``json`` parameter over them."""
    cached = getattr(request, "supermetrics_query", None)
    if cached is not None:
        return cached
    query = _flat(request.query_params)
    if request.method == "POST":
        body = request.data
        if isinstance(body, QueryDict):
            query.update(_flat(body))
        elif isinstance(body, dict):
            query.update(body)
        elif body:
            raise exceptions.ValidationError({"json": ["Send the query as a JSON object."]})
    text = query.pop("json", None)
    if isinstance(text, dict):
        query.update(text)
    elif text is not None:
        query.update(_decoded("json", text if isinstance(text, str) else ""))
    for name in ("settings", "parameters"):
        if isinstance(query.get(name), str):
            query[name] = _decoded(name, query[name], literal=True)
    request.supermetrics_query = query
    return query


def token_from_fields(request):
    """The ``api_key`` field of the query object (the header styles and the ``api_key``
    parameter are read by :mod:`accounts.authentication` first)."""
    key = query_object(request).get("api_key")
    return key if isinstance(key, str) and key else None


class ParametersField(JSONField):
    """An object of parameter names to values."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("An object of parameter names to values.")
        return value


def _offset(value, name, errors):
    """An offset from JSON (an integer) or a parameter (its digits); errors[name] otherwise."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        errors[name] = ["A whole number."]
    elif not 0 <= value <= MAX_OFFSET:
        errors[name] = [f"From 0 to {MAX_OFFSET}."]
    return value


def status_fields(query):
    """``schedule_id``, ``offset_start`` and ``offset_end`` of ``/query/status``, checked
    (400 naming each bad field). By hand rather than by a serializer: this is the hot path of
    every poll, and building a serializer cost more than the read."""
    errors, found = {}, {}
    schedule_id = query.get("schedule_id")
    if not isinstance(schedule_id, str) or not schedule_id:
        errors["schedule_id"] = ["Required: a string."]
    elif len(schedule_id) > MAX_ID_CHARS or not SCHEDULE_ID_RE.match(schedule_id):
        errors["schedule_id"] = [f"At most {MAX_ID_CHARS} letters, digits, '_' and '-'."]
    found["schedule_id"] = schedule_id
    found["offset_start"] = _offset(query.get("offset_start", 0), "offset_start", errors)
    if query.get("offset_end") is not None:
        found["offset_end"] = _offset(query["offset_end"], "offset_end", errors)
    key = query.get("api_key")
    if key is not None and not (isinstance(key, str) and len(key) <= 255
                                and SCHEDULE_ID_RE.match(key)):
        errors["api_key"] = ["At most 255 letters, digits, '_' and '-'."]
    if not errors and found.get("offset_end", found["offset_start"]) < found["offset_start"]:
        errors["offset_end"] = ["Must not be below offset_start."]
    if errors:
        raise exceptions.ValidationError(errors)
    return found


class DataQuery(serializers.Serializer):
    """The fields of ``/query/data/json`` the portal reads; others (``ds_accounts``,
    ``fields``, ``cache_minutes`` …) are accepted and not used."""

    schedule_id = serializers.RegexField(SCHEDULE_ID, max_length=MAX_ID_CHARS, required=False)
    offset_start = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, default=0)
    offset_end = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, required=False)
    api_key = serializers.RegexField(SCHEDULE_ID, max_length=255, required=False)
    ds_id = serializers.CharField(max_length=255, required=False, allow_blank=True)
    query = StrictCharField(required=False, max_length=1_000_000, trim_whitespace=False)
    settings = ParametersField(required=False)
    parameters = ParametersField(required=False)
    start_date = StrictCharField(max_length=100, required=False)
    end_date = StrictCharField(max_length=100, required=False)
    sync_timeout = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, default=0)
    max_rows = serializers.IntegerField(min_value=1, max_value=MAX_OFFSET, required=False)

    def validate(self, attrs):
        if attrs.get("offset_end", attrs["offset_start"]) < attrs["offset_start"]:
            raise exceptions.ValidationError({"offset_end": ["Must not be below offset_start."]})
        return attrs


def validated(serializer_class, data):
    """``data`` validated by ``serializer_class`` (a 400 naming each field otherwise)."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# -- the command ----------------------------------------------------------------------------


def find(member, schedule_id):
    """The SQL command ``schedule_id`` names for ``member``; :class:`StatusNotFound` else."""
    alias = ALIAS_RE.match(schedule_id)
    command = reads.visible_submission(member, schedule_id,
                                       pk=int(alias[1]) if alias else None, extra="queue",
                                       only=reads.STATUS_FIELDS)
    if command is None or command.command_type != CommandType.SQL:
        raise StatusNotFound()
    return command


def _saved_query(member, ref):
    """The saved query ``ds_id`` names: ``qry_<id>``, its id or its name."""
    match = SAVED_QUERY_RE.match(ref)
    saved = reads.saved_query(member, pk=int(match[1])) if match else reads.saved_query(
        member, name=ref)
    if saved is None:
        raise exceptions.ValidationError(
            {"ds_id": ["No saved query of this id or name in your account."]})
    return saved


def absolute_date(text, today=None):
    """A date as Supermetrics' clients write it — ``YYYY-MM-DD``, ``today``, ``yesterday`` or
    ``<N>daysAgo`` (UTC) — as ``YYYY-MM-DD``; anything else unchanged, for the parameter's own
    type check to name."""
    today = today or datetime.now(UTC).date()
    word = text.strip().lower().replace(" ", "").replace("_", "")
    if word == "today":
        return today.isoformat()
    if word == "yesterday":
        return (today - timedelta(days=1)).isoformat()
    match = DAYS_AGO_RE.match(word)
    if match:
        return (today - timedelta(days=int(match[1]))).isoformat()
    return text


def _parameters(query, names):
    """The query's parameters: ``settings`` and ``parameters`` objects, and ``start_date`` /
    ``end_date`` (relative dates made absolute) where the SQL has parameters of those names."""
    values = {**(query.get("settings") or {}), **(query.get("parameters") or {})}
    for name in ("start_date", "end_date"):
        if name in query and name in names:
            values.setdefault(name, absolute_date(query[name]))
    return values


@contextmanager
def renamed_fields():
    """Validation errors of the portal's submission under the field names the client sent."""
    try:
        yield
    except exceptions.ValidationError as exc:
        if not isinstance(exc.detail, dict):
            raise
        detail = {}
        for name, messages in exc.detail.items():
            detail.setdefault(FIELD_NAMES.get(name, name), messages)
        raise exceptions.ValidationError(detail) from exc


def start(request, member, query):
    """Submit the query as ``member`` (rights, idempotency and audit are the submission
    service's): the new command, or the one submitted before with this ``schedule_id``."""
    payload = {"command_type": CommandType.SQL}
    if query.get("query"):
        payload["query"] = query["query"]
        names = set(placeholders(query["query"]))
        if query.get("ds_id"):
            payload["data_source"] = query["ds_id"]
    else:
        saved = _saved_query(member, query["ds_id"])
        payload["saved_query"] = saved.pk
        names = {item["name"] for item in saved.parameters}
    payload["parameters"] = _parameters(query, names)
    if query.get("schedule_id"):
        payload["submission_id"] = query["schedule_id"]
    with renamed_fields():
        serializer = SubmitSerializer(data=payload, context={"request": request})
        serializer.is_valid(raise_exception=True)
        with submission_errors():
            command, _ = submit(member, serializer.validated_data, source=Source.API,
                                request=request, shape="supermetrics")
    return command
