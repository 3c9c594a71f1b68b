"""OpenAPI post-processing: the error answers every operation really gives, in one place.

drf-spectacular documents the success responses of each view; the errors come from shared
machinery (authentication, the policy, the rate limit, validation, problem details), so they
are added here by rule rather than repeated on every view:

- 401 and 429 on every operation that needs a credential; 403 where a role decides;
- 400 where a body or query parameters are read; 413 where a body is read;
- 404 where the path names an object;
- 409 where the object's state can forbid the request (listed in ``CONFLICTS``).

Every error is an RFC 9457 problem (``application/problem+json``, schema ``Problem``), except
under a compatibility shape with an error format of its own (``SHAPES``: Qubole's under
``/api/v1.2/``, Ray's plain text under ``/api/jobs/``, ``/api/packages/`` and
``/api/version``), whose operations get that format and the codes that shape answers. The
token may come in any one of several ways, so each security scheme is its own alternative.
"""

import re

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {
            "type": "array", "items": {}},
            "description": "Validation errors: field -> messages."},
    },
    "required": ["type", "title", "status", "detail", "instance"],
}
PHRASES = {400: "Invalid input (the field is named in `errors`).",
           401: "No valid credential.", 403: "The caller's role does not allow it.",
           404: "No such object visible to the caller.",
           409: "The object's state does not allow it.", 413: "The body is too large.",
           429: "Over the account's hourly rate limit (see `Retry-After`)."}
BODY_METHODS = {"post", "put", "patch"}
# (method, path pattern): the operations whose object's state may refuse them.
CONFLICTS = [
    ("post", r"/api/v1/commands/$"),  # a submission_id used by another definition
    ("post", r"/commands/\{id\}/cancel/$"),
    ("get", r"/commands/\{id\}/results/"),
    ("post", r"/saved-queries/\{id\}/run/$"),
    ("put", r"/(roles|groups|data-sources)/\{id\}/$"),
    ("patch", r"/(roles|groups|data-sources)/\{id\}/$"),
    ("delete", r"/(roles|groups|members|data-sources|saved-queries)/\{id\}/$"),
    ("get", r"^/query/data/json$"),  # a schedule_id used by another definition
    ("post", r"^/query/data/json$"),
    ("post", r"^/v1/query/\{query_id\}$"),  # an Idempotency-Key used by another definition
]
# (method, path pattern, code): answers beyond the rules above.
EXTRA_CODES = [
    ("delete", r"^/api/jobs/\{ref\}$", 400),  # a job that has not ended
    ("get", r"^/api/packages/", 400),  # a name that is not a package's
]
# (method, path pattern): operations that read no body although their method may carry one.
NO_BODY = [("post", r"^/api/jobs/\{ref\}/stop$")]


QUBOLE_ERROR = {
    "type": "object",
    "description": "Qubole's error object; errors: field -> messages for invalid input.",
    "properties": {
        "error": {"type": "object", "properties": {
            "error_code": {"type": "integer"}, "error_message": {"type": "string"}},
            "required": ["error_code", "error_message"]},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {}}},
    },
    "required": ["error"],
}
# Qubole's shape: field errors are 422 (400 only for a body that is not JSON), a refused
# change of a built-in role or group is 409.
QUBOLE_CONFLICTS = [("put", r"/roles/\{id\}$"), ("delete", r"/(roles|groups)/\{id\}$")]
QUBOLE_PHRASES = {**PHRASES, 400: "The body is not JSON.",
                  409: "Built-in roles and groups cannot change this way.",
                  422: "Invalid input, or (results) the command has not finished or its "
                       "result is too large to inline: see error_message."}


def _qubole_codes(path, method, operation):
    codes = {401, 403, 429}
    if method in BODY_METHODS:
        codes |= {400, 413, 422}
    if any(p.get("in") == "query" for p in operation.get("parameters", [])):
        codes.add(422)
    if "{" in path:
        codes.add(404)
    if path.endswith("/results"):
        codes.add(422)
    if any(method == m and re.search(pattern, path) for m, pattern in QUBOLE_CONFLICTS):
        codes.add(409)
    return sorted(codes)


RAY_ERROR = {"type": "string", "description": "Ray's dashboard answers errors in plain text."}

# path prefix -> (schema name, schema, content type, codes(path, method, operation), phrases)
SHAPES = {"/api/v1.2/": ("QuboleError", QUBOLE_ERROR, "application/json", _qubole_codes,
                         QUBOLE_PHRASES),
          **{prefix: ("RayError", RAY_ERROR, "text/plain", lambda *a: _error_codes(*a),
                      PHRASES) for prefix in ("/api/jobs/", "/api/packages/", "/api/version")}}


def add_problem_responses(result, generator, request, public):
    """``POSTPROCESSING_HOOKS`` entry: error responses and alternative security schemes."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM
    default = ({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
               _error_codes, PHRASES)
    shapes = {}
    for prefix, (name, schema, content_type, codes, phrases) in SHAPES.items():
        schemas[name] = schema
        shapes[prefix] = ({content_type: {"schema": {"$ref": f"#/components/schemas/{name}"}}},
                          codes, phrases)
    for path, operations in result.get("paths", {}).items():
        content, codes, phrases = next(
            (shape for prefix, shape in shapes.items() if path.startswith(prefix)), default)
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code in codes(path, method, operation):
                operation["responses"][str(code)] = {"description": phrases[code],
                                                     "content": content}
            _alternatives(operation)
            _shape_rules(operation)
    return result


def _shape_rules(operation):
    """What a compatibility shape asks for with ``extend_schema(extensions=...)``, applied after
    the error responses exist:

    - ``x-response-headers``: ``{"*": headers of every response, "<code>": more for it}``;
    - ``x-json-parameters``: ``{name: schema}`` of query parameters sent as JSON text.
    """
    headers = operation.pop("x-response-headers", None) or {}
    for code, response in operation["responses"].items():
        extra = {**headers.get("*", {}), **headers.get(code, {})}
        if extra:
            response["headers"] = {**response.get("headers", {}), **extra}
    as_json = operation.pop("x-json-parameters", None) or {}
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query" and parameter.get("name") in as_json:
            parameter.pop("schema", None)
            parameter["content"] = {"application/json": {"schema": as_json[parameter["name"]]}}


def _error_codes(path, method, operation):
    secured = any(requirement for requirement in operation.get("security", [{}]))
    codes = set()
    if secured:
        codes |= {401, 403, 429}
    parameters = operation.get("parameters", [])
    if method in BODY_METHODS and not _listed(NO_BODY, method, path):
        codes |= {400, 413}
    if any(p.get("in") == "query" for p in parameters):
        codes.add(400)
    if "{" in path:
        codes.add(404)
    if _listed(CONFLICTS, method, path):
        codes.add(409)
    codes |= {code for m, pattern, code in EXTRA_CODES
              if m == method and re.search(pattern, path)}
    return sorted(codes)


def _listed(rules, method, path):
    return any(method == m and re.search(pattern, path) for m, pattern in rules)


def _alternatives(operation):
    """One requirement object per scheme: any one of them authenticates."""
    security = operation.get("security")
    if not security:
        return
    split = []
    for requirement in security:
        split.extend({name: scopes} for name, scopes in requirement.items())
        if not requirement:
            split.append({})
    operation["security"] = split
