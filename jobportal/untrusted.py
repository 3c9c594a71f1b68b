"""Checks of JSON from clients, shared by the request parsers and the JSON fields.

Two things in valid JSON still break the portal later, so they are refused up front with the
path of the offending value:

- nesting deeper than :data:`MAX_DEPTH`: Python's decoder, encoder and every recursive walk of
  the value fail with ``RecursionError`` a few hundred levels down, and no field of the API
  needs more than a few levels;
- NUL characters (``\\u0000``) in strings or keys: PostgreSQL's ``text`` and ``jsonb`` cannot
  hold them, so one would be accepted on SQLite and fail on PostgreSQL. They are refused on
  both databases, so a client sees one behaviour.

Non-finite numbers (``1e999`` decodes to infinity) are refused too: JSON has no way to write
them back and PostgreSQL's ``jsonb`` does not accept them.
"""

import json
import math
import re

MAX_DEPTH = 32
MAX_PATH_CHARS = 200
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The tokens that change depth or position; everything else (numbers, literals, blanks) is
# skipped by finditer.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]')


class UntrustedJSONError(ValueError):
    """Why a JSON value is refused: ``path`` is a list of keys and indexes from the top."""

    def __init__(self, message, path):
        super().__init__(message)
        self.message = message
        self.path = path

    @property
    def field(self):
        """The top-level key the problem is under, or None (a top-level array or scalar)."""
        return self.path[0] if self.path and isinstance(self.path[0], str) else None

    def describe(self, prefix=()):
        """The message with the path, e.g. ``… at metadata["a b"][0]``."""
        where = render_path([*prefix, *self.path])
        return f"{self.message} at {where}." if where else f"{self.message}."


def render_path(path):
    """``a.b[0]["not an identifier"]``, shortened to MAX_PATH_CHARS."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    if len(text) > MAX_PATH_CHARS:
        text = text[:MAX_PATH_CHARS] + "…"
    return text


def _too_deep():
    return f"Nested deeper than {MAX_DEPTH} levels"


def check(value, max_depth=MAX_DEPTH):
    """Raise UntrustedJSONError for the first value too deep, holding a NUL or not finite."""
    stack = [(value, [], 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                raise UntrustedJSONError(_too_deep(), path)
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, inner in reversed(list(pairs)):
                if isinstance(key, str) and "\x00" in key:
                    raise UntrustedJSONError("NUL characters (\\u0000) are not allowed in keys",
                                             [*path, key])
                stack.append((inner, [*path, key], depth + 1))
        elif isinstance(item, str) and "\x00" in item:
            raise UntrustedJSONError("NUL characters (\\u0000) are not allowed", path)
        elif isinstance(item, float) and not math.isfinite(item):
            raise UntrustedJSONError("Numbers must be finite", path)


def loads(text, parse_constant=None):
    """Decode ``text`` and :func:`check` it. Raises ValueError for invalid JSON (as
    :func:`json.loads`) and UntrustedJSONError for valid JSON the portal refuses."""
    try:
        value = json.loads(text, parse_constant=parse_constant)
    except RecursionError:
        raise UntrustedJSONError(_too_deep(), deep_path(text)) from None
    check(value)
    return value


def deep_path(text, max_depth=MAX_DEPTH):
    """The path of the first array or object nested deeper than ``max_depth`` in ``text``,
    found by a scan that stops there (used when the decoder itself ran out of stack)."""
    # Each level: [is_object, current key or index, expecting a key].
    stack = []
    for match in _TOKEN.finditer(text):
        piece = match.group()
        if piece in "[{":
            if len(stack) >= max_depth:
                return [level[1] for level in stack]
            is_object = piece == "{"
            stack.append([is_object, None if is_object else 0, is_object])
        elif piece in "]}":
            if stack:
                stack.pop()
        elif piece == ",":
            if stack and stack[-1][0]:
                stack[-1][2] = True
            elif stack:
                stack[-1][1] += 1
        elif stack and stack[-1][0] and stack[-1][2]:
            try:
                stack[-1][1] = json.loads(piece)
            except ValueError:
                stack[-1][1] = piece
            stack[-1][2] = False
    return [level[1] for level in stack]
