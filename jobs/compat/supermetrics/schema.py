"""The OpenAPI description of the Supermetrics shape: its parameters and bodies with the bounds
and patterns Supermetrics documents (the error responses are added by jobportal.schema)."""

from drf_spectacular.utils import OpenApiParameter

from jobs.compat import http

ID = {"type": "string", "maxLength": 50, "pattern": "^[A-Za-z0-9_-]+$"}
WORDS = ["SCHEDULED", "QUEUED", "RUNNING", "SUCCESS", "FAILURE", "STOPPED"]


def _count(ceiling):
    return {"type": "integer", "format": "int32", "minimum": 0, "maximum": ceiling}


META = {
    "type": "object",
    "required": ["request_id", "schedule_id", "status_code"],
    "properties": {
        "request_id": {**ID, "description": "New for every reply; also names the query."},
        "schedule_id": ID,
        "status_code": {"type": "string", "enum": WORDS, "maxLength": 20},
        "error": {"type": "object", "description": "FAILURE and STOPPED: why.",
                  "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
    },
}
PROGRESS = {
    "type": "object", "required": ["queries_ready", "queries_total"],
    "properties": {"queries_ready": _count(10_000), "queries_total": _count(10_000)},
    "description": "Statements done / statements of the query (0 / 0 until it starts).",
}
WORKFLOW = {
    "type": "object", "required": ["tasks_scheduled", "tasks_running"],
    "properties": {"tasks_scheduled": _count(1000), "tasks_running": _count(1000)},
    "description": "The account's commands waiting or queued, and running.",
}


def _body(row, meta=META):
    return {
        "type": "object", "required": ["meta", "progress", "workflow", "data"],
        "properties": {
            "meta": meta, "progress": PROGRESS, "workflow": WORKFLOW,
            "data": {"type": "array", "maxItems": 10_000, "items": row,
                     "description": "Rows of the page (empty unless SUCCESS)."},
        },
    }


STATUS = _body({"type": "object", "description": "A row, keyed by column name."})
FIELD = {"type": "object", "properties": {
    "id": {"type": "string"}, "field_id": {"type": "string"}, "field_name": {"type": "string"},
    "data_type": {"type": "string"}, "data_column": {"type": "integer"},
    "visible": {"type": "boolean"}}}
DATA = _body({"type": "array", "items": {}, "description": "A row's values, in column order."},
             meta={**META, "properties": {
                 **META["properties"],
                 "query": {"type": "object", "properties": {
                     "fields": {"type": "array", "items": FIELD}}},
                 "result": {"type": "object", "properties": {
                     "total_columns": {"type": "integer"}, "total_rows": {"type": "integer"},
                     "run_seconds": {"type": "number"}, "data_sampled": {"type": "boolean"},
                     "cache_used": {"type": "boolean"}}},
                 "paginate": {"type": "object", "properties": {
                     "next": {"type": "string", "format": "uri"},
                     "prev": {"type": "string", "format": "uri"}}}}})
NOT_FOUND = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string", "enum": ["STATUS_NOT_FOUND"], "maxLength": 50}}}

_OFFSET = {"type": "integer", "format": "int32", "minimum": 0, "maximum": 1_000_000}
QUERY_FIELDS = {
    "ds_id": {"type": "string", "maxLength": 255, "description": (
        "A saved query: qry_<id>, its id or its name. With query: the data source "
        "(id or name; empty: the built-in one over your datasets).")},
    "query": {"type": "string", "description": "Ad-hoc SQL, where your role allows it."},
    "schedule_id": {**ID, "description": "Your id for this query (unique in the account; "
                    "a repeat answers the same query). Alone: read that query."},
    "settings": {"type": "object", "description": "Parameters of the query."},
    "parameters": {"type": "object", "description": "Parameters (over settings)."},
    "start_date": {"type": "string", "maxLength": 100,
                   "description": "The start_date parameter, where the query has one."},
    "end_date": {"type": "string", "maxLength": 100,
                 "description": "The end_date parameter, where the query has one."},
    "sync_timeout": {"type": "integer", "minimum": 0, "maximum": 1_000_000,
                     "description": "Seconds to wait for the data (default 0; at most "
                     "JOBPORTAL_MAX_SYNC_WAIT_SECONDS)."},
    "offset_start": _OFFSET, "offset_end": {**_OFFSET, "description": "Inclusive."},
    "max_rows": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
    "api_key": {"type": "string", "maxLength": 255, "pattern": "^[A-Za-z0-9_-]+$"},
}
_QUERY = {"type": "object", "properties": QUERY_FIELDS}
# Media type -> schema (a bare schema dict would be read as that mapping).
DATA_REQUEST = {"application/json": _QUERY, "application/x-www-form-urlencoded": _QUERY}


def _parameter(name, spec, required=False):
    return OpenApiParameter(name, spec, required=required, description=spec.get("description"))


_API_KEY = OpenApiParameter("api_key", str, description=(
    "API key when not using an Authorization header."))
_JSON = "A JSON-encoded object of the fields below (they may also be sent as parameters)."
STATUS_PARAMETERS = [
    OpenApiParameter("json", str, required=True, description=(
        'JSON-encoded {"schedule_id", "offset_start", "offset_end", "api_key"}; offsets '
        "0-1,000,000, the end inclusive, at most 10,000 rows a reply.")),
    _API_KEY,
]
DATA_PARAMETERS = [
    OpenApiParameter("json", str, description=_JSON),
    *[_parameter(name, spec) for name, spec in QUERY_FIELDS.items()
      if name not in ("settings", "parameters", "api_key")],
    _API_KEY,
]


HEADERS = http.response_headers(ceiling=10_000)
STATUS_JSON = {"type": "object", "required": ["schedule_id"], "properties": {
    name: QUERY_FIELDS[name] for name in ("schedule_id", "offset_start", "offset_end",
                                          "api_key")}}
STATUS_EXTENSIONS = {"x-response-headers": HEADERS, "x-json-parameters": {"json": STATUS_JSON}}
DATA_EXTENSIONS = {"x-response-headers": HEADERS, "x-json-parameters": {"json": _QUERY}}
