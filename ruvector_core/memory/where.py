"""The ``where=`` filter language (Chroma's and MongoDB's) compiled to one parameterised SQLite expression.

Items keep their metadata as one JSON object per row (``json.dumps(..., ensure_ascii=False,
default=json_default)``); ``compile_where`` turns a filter into an SQL boolean over that column so
SQLite picks the allowed items and no Python loop over rows is needed. Compiling validates the whole
filter first, so a bad filter raises ``InvalidInputError`` before any SQL runs.

The language::

    {"user": "ana"}                          equality (an implicit $eq)
    {"age": {"$gte": 18, "$lt": 65}}         $eq $ne $gt $gte $lt $lte $in $nin $exists, ANDed
    {"age": {"$not": {"$gt": 5}}}            $not on a field takes an operator object
    {"$and": [f, ...]}, {"$or": [f, ...]}    non-empty lists of filters; {"$not": f} negates a filter
    {"a": 1, "b": 2}                         several keys in one object: AND

Keys are top-level metadata keys taken literally (``"a.b"`` is the key ``a.b``, not a path into a
nested object); nested objects and arrays are opaque values that only ``$exists`` (and the negations)
can see. The semantic choices, each mirrored by the reference evaluator in the tests:

* Types never mix. SQLite reads JSON ``true``/``false`` as 1/0, so every comparison also checks the
  JSON type: ``True`` matches only ``true`` (never the number 1), a number only ``integer``/``real``
  values (1 == 1.0), a string only text, ``None`` only an explicit ``null``. ``$gt``/``$gte``/``$lt``/
  ``$lte`` take a number or a string and compare it only with values of the same kind; a mismatch
  never matches.
* A missing key equals nothing, ``None`` included, so the negations ``$ne``, ``$nin`` and ``$not``
  match items that lack the key (MongoDB's behaviour for ``$ne``/``$nin``); add ``{"$exists": True}``
  to require it.
* Timestamps: an aware ``datetime`` is stored and compared as the fixed-width ISO-8601 UTC string
  ``2024-05-01T12:00:00.000000+00:00`` (``json_default`` writes exactly that), a ``date`` as
  ``2024-05-01``; fixed width makes the string order the time order, and a date sorts before every
  timestamp of its day, so ``{"$gte": date(2024, 5, 1)}`` includes that whole day. Naive datetimes
  are refused: their instant is unknown.
* Values SQLite would silently change are refused: ints outside 64 bits, NaN and infinities, and
  strings (or keys) with NUL characters, which SQLite's JSON functions cut short.

Keys are matched through ``json_each`` (``key = ?``) rather than a JSON path, because SQLite before
3.45 cannot spell a key containing ``"`` in a path; every key and value is a bound parameter and the
SQL text holds only the code's own fragments and the caller's column name.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from ruvector_core.errors import InvalidInputError

MAX_DEPTH = 32
FIELD_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$not")
LOGICAL_OPERATORS = ("$and", "$or", "$not")

_ORDER = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_NUMBER, _TEXT = "type IN ('integer', 'real')", "type = 'text'"
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
_Sql = tuple[str, list[Any]]


def json_default(value: object) -> str:
    """``json.dumps(default=...)`` for metadata: timestamps as the strings ``compile_where`` compares."""
    if isinstance(value, datetime):
        return _timestamp(value, "metadata value")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def compile_where(where: Mapping[str, Any] | None, column: str = "metadata") -> tuple[str, list[Any]]:
    """The SQL boolean expression selecting the items ``where`` matches, and its parameters in order.

    ``column`` names the JSON metadata column (optionally ``table.column``); it is the one piece of
    text placed in the SQL, so it must be a plain identifier. ``None`` and ``{}`` match everything.
    """
    if not _COLUMN.fullmatch(column):
        raise InvalidInputError(f"column {column!r} is not a plain SQL identifier")
    if where is None:
        return "1", []
    return _Compiler(column).filter(where, "where", 1)


class _Compiler:
    """Walks a filter; every method returns ``(sql, params)`` with the params in textual order."""

    def __init__(self, column: str) -> None:
        self.column = column

    def filter(self, node: object, path: str, depth: int) -> _Sql:
        _check_depth(path, depth)
        if not isinstance(node, Mapping):
            raise _error(path, f"expected a filter (a mapping of keys to conditions), got {_kind(node)}")
        parts = []
        for key, spec in node.items():
            sub = f"{path}[{_show(key)}]"
            if not isinstance(key, str):
                raise _error(sub, f"keys must be strings, got {_kind(key)}")
            if key in ("$and", "$or"):
                if not isinstance(spec, list | tuple) or not spec:
                    raise _error(sub, f"{key} takes a non-empty list of filters, got {_kind(spec)}")
                items = [self.filter(f, f"{sub}[{i}]", depth + 1) for i, f in enumerate(spec)]
                parts.append(_join(items, key[1:].upper()))
            elif key == "$not":
                parts.append(_negate(self.filter(spec, sub, depth + 1)))
            elif key.startswith("$"):
                if key in FIELD_OPERATORS:
                    raise _error(sub, f'{key} applies to a field, e.g. {{"age": {{"{key}": ...}}}}')
                raise _error(sub, f"unknown operator {key!r} (expected one of {', '.join(LOGICAL_OPERATORS)} or a key)")
            else:
                _check_text(key, sub, "key")
                parts.append(self.field(key, spec, sub, depth + 1))
        return _join(parts, "AND")

    def field(self, key: str, spec: object, path: str, depth: int) -> _Sql:
        if not isinstance(spec, Mapping):
            return self.operator(key, "$eq", spec, path, depth)
        _check_depth(path, depth)
        if not spec:
            raise _error(path, "an empty operator object (equality with an object is not supported)")
        parts = []
        for op, arg in spec.items():
            sub = f"{path}[{_show(op)}]"
            if not isinstance(op, str) or not op.startswith("$"):
                raise _error(sub, "expected an operator such as $gt here (equality with an object is not supported)")
            parts.append(self.operator(key, op, arg, sub, depth))
        return _join(parts, "AND")

    def operator(self, key: str, op: str, arg: object, path: str, depth: int) -> _Sql:
        if op == "$not":
            if not isinstance(arg, Mapping):
                raise _error(path, f'$not on a field takes an operator object such as {{"$gt": 1}}, got {_kind(arg)}')
            return _negate(self.field(key, arg, path, depth + 1))
        if op == "$exists":
            if not isinstance(arg, bool):
                raise _error(path, f"$exists takes True or False, got {_kind(arg)}")
            found = self.exists(key, ("1", []))
            return found if arg else _negate(found)
        if op in ("$eq", "$ne"):
            found = self.exists(key, _equals(_scalar(arg, path, ordered=False)))
            return found if op == "$eq" else _negate(found)
        if op in _ORDER:
            value = _scalar(arg, path, ordered=True)
            return self.exists(
                key, (f"{_TEXT if isinstance(value, str) else _NUMBER} AND value {_ORDER[op]} ?", [value])
            )
        if op in ("$in", "$nin"):
            if not isinstance(arg, list | tuple) or not arg:
                raise _error(path, f"{op} takes a non-empty list of values, got {_kind(arg)}")
            found = self.exists(key, _member([_scalar(v, f"{path}[{i}]", ordered=False) for i, v in enumerate(arg)]))
            return found if op == "$in" else _negate(found)
        raise _error(path, f"unknown operator {op!r} (expected one of {', '.join(FIELD_OPERATORS)})")

    def exists(self, key: str, condition: _Sql) -> _Sql:
        """True when the item has ``key`` and its (type, value) meets ``condition``."""
        sql = f"EXISTS (SELECT 1 FROM json_each({self.column}) WHERE key = ? AND ({condition[0]}))"
        return sql, [key, *condition[1]]


def _equals(value: str | int | float | bool | None) -> _Sql:
    if value is None:
        return "type = 'null'", []
    if isinstance(value, bool):
        return f"type = '{str(value).lower()}'", []
    return f"{_TEXT if isinstance(value, str) else _NUMBER} AND value = ?", [value]


def _member(values: list[str | int | float | bool | None]) -> _Sql:
    """``$in``: one JSON-array parameter per kind, so a long list costs neither parameters nor depth."""
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    texts = [v for v in values if isinstance(v, str)]
    kinds = {"null" if v is None else str(v).lower() for v in values if v is None or isinstance(v, bool)}
    parts: list[_Sql] = []
    if numbers:
        parts.append((f"({_NUMBER} AND value IN (SELECT value FROM json_each(?)))", [json.dumps(numbers)]))
    if texts:
        parts.append(
            (f"({_TEXT} AND value IN (SELECT value FROM json_each(?)))", [json.dumps(texts, ensure_ascii=False)])
        )
    if kinds:
        parts.append((f"type IN ({', '.join(repr(k) for k in sorted(kinds))})", []))
    return _join(parts, "OR")


def _scalar(value: object, path: str, *, ordered: bool) -> str | int | float | bool | None:
    """The value as bound: checked, with timestamps turned into their stored strings."""
    if isinstance(value, datetime):
        return _timestamp(value, path)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return _check_text(value, path, "string")
    if (value is None or isinstance(value, bool)) and not ordered:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if not -(2**63) <= value < 2**63:
            raise _error(path, "integers must fit in 64 bits, as SQLite stores them")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _error(path, f"{value} cannot be compared (not stored as a JSON number)")
        return value
    expected = "a number, string, date or datetime" if ordered else "a number, string, bool, None, date or datetime"
    raise _error(path, f"expected {expected}, got {_kind(value)}")


def _timestamp(value: datetime, path: str) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(f"{path}: naive datetime {value.isoformat()} (give it a tzinfo, e.g. UTC)")
    try:
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    except OverflowError as exc:
        raise InvalidInputError(f"{path}: {value.isoformat()} is outside the years 1-9999 in UTC") from exc


def _check_text(text: str, path: str, what: str) -> str:
    if "\x00" in text:
        raise _error(path, f"a {what} with a NUL character (SQLite's JSON functions cut it short)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _error(path, f"a {what} that is not valid Unicode ({exc.reason})") from exc
    return text


def _join(parts: list[_Sql], op: str) -> _Sql:
    """Parts joined as a balanced tree: a long $or stays within SQLite's expression depth limit."""
    if not parts:
        return "1", []
    if len(parts) == 1:
        return parts[0]
    (left, lp), (right, rp) = _join(parts[: len(parts) // 2], op), _join(parts[len(parts) // 2 :], op)
    return f"({left} {op} {right})", [*lp, *rp]


def _negate(part: _Sql) -> _Sql:
    return f"(NOT {part[0]})", part[1]


def _check_depth(path: str, depth: int) -> None:
    """Depth counts nested mappings (filters and operator objects); it also stops a cyclic filter."""
    if depth > MAX_DEPTH:
        raise _error(path, f"filter nested deeper than {MAX_DEPTH} levels")


def _show(key: object) -> str:
    return json.dumps(key, ensure_ascii=False) if isinstance(key, str) else repr(key)


def _kind(value: object) -> str:
    if isinstance(value, list | tuple | Mapping):
        return f"an empty {type(value).__name__}" if not value else f"a {type(value).__name__}"
    return f"{type(value).__name__} {reprlib.repr(value)}"


def _error(path: str, message: str) -> InvalidInputError:
    return InvalidInputError(f"{path}: {message}")
