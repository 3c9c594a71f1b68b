"""Named SQL parameters: the schema a saved query declares, the values a command binds.

Values are bound by the SQL executor as driver parameters (``:name`` in the SQL), never pasted
into the text. This module only decides which values a command gets: it checks a saved
query's parameter schema, types the caller's values against it (a missing or mistyped value
is an error naming the parameter) and finds the placeholders a script uses.

Values stay JSON (they are stored on the command): a ``date`` is bound as its ISO text, which
every engine compares with a DATE column; write ``CAST(:d AS DATE)`` where nothing else gives
the placeholder a type.
"""

import math
import re
from datetime import date

from jobs.executors.sql import bind_parameters, split_statements

TYPES = ("string", "integer", "number", "boolean", "date")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
INTEGER_RE = re.compile(r"^[+-]?\d+$")
SCHEMA_KEYS = {"name", "type", "default", "required", "description"}


class ParameterError(ValueError):
    """``errors`` maps a parameter name (or ``"parameters"``) to its message."""

    def __init__(self, errors):
        super().__init__(errors)
        self.errors = errors


class _Recorder(dict):
    """Claims to hold every name, so ``bind_parameters`` reports each placeholder it meets."""

    def __init__(self):
        super().__init__()
        self.names = []

    def __contains__(self, name):
        return True

    def __getitem__(self, name):
        if name not in self.names:
            self.names.append(name)


def placeholders(sql):
    """The ``:name`` placeholders of a script, in order of first use, found the way the
    executor binds them (strings, comments and ``::`` casts are not placeholders)."""
    recorder = _Recorder()
    for statement in split_statements(sql):
        bind_parameters(statement, "sqlite", recorder)
    return recorder.names


def _typed(kind, value):
    """``value`` as a JSON value of ``kind``; ValueError says what was expected."""
    if kind == "string":
        if isinstance(value, str):
            return value
        raise ValueError("must be a string")
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and INTEGER_RE.match(value.strip()):
            return int(value)
        raise ValueError("must be an integer")
    if kind == "number":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value):
            return value
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
            else:
                if math.isfinite(number):
                    return int(value) if INTEGER_RE.match(value.strip()) else number
        raise ValueError("must be a finite number")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError("must be true or false")
    if kind == "date":
        if isinstance(value, str):
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                pass
        raise ValueError("must be a date as YYYY-MM-DD")
    raise ValueError(f"has an unknown type {kind!r}")


def _schema_entry(item, seen):
    """One declared parameter, normalised; ValueError says what is wrong with it."""
    name = item.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError("name must be an identifier (letters, digits, '_')")
    if name in seen:
        raise ValueError("is declared twice")
    seen.add(name)
    if set(item) - SCHEMA_KEYS:
        raise ValueError(f"unknown key(s): {', '.join(sorted(set(item) - SCHEMA_KEYS))}")
    if item.get("type") not in TYPES:
        raise ValueError(f"type must be one of {', '.join(TYPES)}")
    if "required" in item and not isinstance(item["required"], bool):
        raise ValueError("required must be true or false")
    entry = {"name": name, "type": item["type"],
             "required": item.get("required", item.get("default") is None)}
    if item.get("description"):
        entry["description"] = str(item["description"])
    if item.get("default") is not None:
        try:
            entry["default"] = _typed(item["type"], item["default"])
        except ValueError as exc:
            raise ValueError(f"default {exc}") from exc
    return entry


def check_schema(schema, sql):
    """The normalised parameter schema of a saved query; ParameterError names what is wrong.

    Every placeholder of ``sql`` must be declared, names are unique identifiers, defaults have
    the declared type, and ``required`` defaults to "has no default".
    """
    if not isinstance(schema, list) or not all(isinstance(item, dict) for item in schema):
        raise ParameterError({"parameters": "A list of {name, type, default?, required?}."})
    errors, normalised, seen = {}, [], set()
    for index, item in enumerate(schema):
        name = item.get("name")
        try:
            normalised.append(_schema_entry(item, seen))
        except ValueError as exc:
            errors[name if isinstance(name, str) and name else f"#{index + 1}"] = str(exc)
    for name in placeholders(sql):
        if name not in seen:
            errors[name] = f"is used in the SQL (:{name}) but not declared"
    if errors:
        raise ParameterError(errors)
    return normalised


def bind_to_schema(schema, given):
    """The values a saved query runs with: ``given`` typed against ``schema``, defaults filled
    in, optional parameters without a value bound as NULL. ParameterError names each missing,
    mistyped or unknown parameter."""
    given = given or {}
    if not isinstance(given, dict):
        raise ParameterError({"parameters": "An object of parameter names to values."})
    errors, values = {}, {}
    declared = {item["name"]: item for item in schema}
    for name in given:
        if name not in declared:
            errors[name] = "is not a parameter of this query"
    for name, item in declared.items():
        value = given.get(name)
        if value is None:
            if item.get("default") is not None:
                values[name] = item["default"]
            elif item.get("required", True):
                errors[name] = f"is required ({item['type']})"
            else:
                values[name] = None
            continue
        try:
            values[name] = _typed(item["type"], value)
        except ValueError as exc:
            errors[name] = str(exc)
    if errors:
        raise ParameterError(errors)
    return values


def check_values(sql, given):
    """Ad-hoc SQL: every placeholder needs a value and values are JSON scalars. Values the
    script does not use are kept (and ignored by the executor), like unused macros."""
    given = given or {}
    if not isinstance(given, dict):
        raise ParameterError({"parameters": "An object of parameter names to values."})
    errors = {name: "must be a string, finite number, boolean or null"
              for name, value in given.items()
              if not (value is None or isinstance(value, str | int | bool)
                      or (isinstance(value, float) and math.isfinite(value)))}
    for name in placeholders(sql):
        if name not in given:
            errors[name] = f"is used in the SQL (:{name}) but has no value"
    if errors:
        raise ParameterError(errors)
    return dict(given)
