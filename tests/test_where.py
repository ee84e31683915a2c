"""The where= filter language: SQL from compile_where against a pure-Python reference of the same semantics.

The semantics are written twice, once as SQL (ruvector_core.memory.where) and once as the small
evaluator below, over a real SQLite table; every operator, random filters (hypothesis) and every
error case are checked.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ruvector_core.errors import InvalidInputError
from ruvector_core.memory.where import MAX_DEPTH, compile_where, json_default

MALICIOUS = "x') OR 1=1 --"
PLUS_TWO = timezone(timedelta(hours=2))

ITEMS: dict[str, dict[str, Any]] = {
    "ana": {
        "user": "ana",
        "age": 34,
        "score": 0.91,
        "active": True,
        "tags": ["a", "b"],
        "at": datetime(2024, 5, 1, 12, tzinfo=UTC),
    },
    "bob": {"user": "bob", "age": 1, "active": False, "score": 1},
    "flag-true": {"flag": True},
    "flag-one": {"flag": 1},
    "flag-zero": {"flag": 0},
    "flag-false": {"flag": False},
    "flag-null": {"flag": None},
    "flag-text": {"flag": "true"},
    "flag-one-real": {"flag": 1.0},
    "empty": {},
    "age-text": {"age": "34"},
    "age-real": {"age": 34.0},
    "negative": {"age": -5, "score": -0.5},
    "huge": {"age": 2**62, "score": 1e300},
    "nested": {"nested": {"age": 3}, "user": "ana"},
    "dotted": {"a.b": 1, "a": {"b": 2}},
    "quotes": {'q"uote': "x", "it's": "y"},
    "malicious-key": {MALICIOUS: "boom"},
    "unicode": {"city": "Zürich", "名前": "太郎"},
    "ascii-city": {"city": "zurich"},
    "empty-city": {"city": ""},
    "late-evening": {"at": datetime(2024, 5, 1, 23, 59, tzinfo=PLUS_TWO)},  # 21:59 UTC, still 1 May
    "day": {"at": date(2024, 5, 1)},
    "day-before": {"at": date(2024, 4, 30)},
    "new-year-eve": {"at": datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)},
    "at-text": {"at": "not a date"},
    "null-user": {"score": 0.1, "user": None},
    "odd-keys": {"sp ace": 5, "": "empty key"},
    "escapes": {"back\\slash": 1, "new\nline": 2},
    "ana-capital": {"user": "Ana", "age": 35, "active": True},
    "containers": {"tags": [], "obj": {}},
    "tiny": {"score": 1e-300, "age": 0},
    "big-int": {"user": "ana ", "age": 9007199254740993},
}

#: what SQLite holds and the reference reads: the metadata after a JSON round trip
STORED = {name: json.loads(json.dumps(meta, ensure_ascii=False, default=json_default)) for name, meta in ITEMS.items()}
ALL = set(ITEMS)


# -- the reference evaluator ------------------------------------------------------------------------

MISSING = object()


def _kind(value: object) -> str:
    if value is MISSING:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return "container"


def _plain(value: object) -> object:
    """A filter value as the stored JSON has it (timestamps as strings)."""
    return json_default(value) if isinstance(value, date) else value


def _same(stored: object, target: object) -> bool:
    return _kind(stored) == _kind(target) and _kind(stored) != "container" and stored == target


def _operator(stored: object, op: str, arg: Any) -> bool:
    if op == "$eq":
        return _same(stored, _plain(arg))
    if op == "$ne":
        return not _same(stored, _plain(arg))
    if op in ("$gt", "$gte", "$lt", "$lte"):
        target: Any = _plain(arg)
        if _kind(stored) != _kind(target):
            return False
        value: Any = stored
        return {"$gt": value > target, "$gte": value >= target, "$lt": value < target, "$lte": value <= target}[op]
    if op == "$in":
        return any(_same(stored, _plain(a)) for a in arg)
    if op == "$nin":
        return not any(_same(stored, _plain(a)) for a in arg)
    if op == "$exists":
        return (stored is not MISSING) == arg
    if op == "$not":
        return not _field(stored, arg)
    raise AssertionError(op)


def _field(stored: object, spec: Any) -> bool:
    ops = spec if isinstance(spec, Mapping) else {"$eq": spec}
    return all(_operator(stored, op, arg) for op, arg in ops.items())


def reference(where: Mapping[str, Any], meta: Mapping[str, Any]) -> bool:
    for key, spec in where.items():
        if key == "$and":
            ok = all(reference(f, meta) for f in spec)
        elif key == "$or":
            ok = any(reference(f, meta) for f in spec)
        elif key == "$not":
            ok = not reference(spec, meta)
        else:
            ok = _field(meta.get(key, MISSING), spec)
        if not ok:
            return False
    return True


# -- the SQL side -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE items (id TEXT PRIMARY KEY, namespace TEXT, text TEXT, metadata TEXT NOT NULL)")
    conn.executemany(
        "INSERT INTO items VALUES (?, 'default', '', ?)",
        [(name, json.dumps(meta, ensure_ascii=False, default=json_default)) for name, meta in ITEMS.items()],
    )
    yield conn
    conn.close()


def select(db: sqlite3.Connection, where: Mapping[str, Any] | None) -> set[str]:
    sql, params = compile_where(where)
    return {row[0] for row in db.execute(f"SELECT id FROM items WHERE {sql}", params)}


def expected(where: Mapping[str, Any]) -> set[str]:
    return {name for name, meta in STORED.items() if reference(where, meta)}


# -- the semantics, pinned by hand ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "names"),
    [
        (None, ALL),
        ({}, ALL),
        # booleans are not the numbers 1/0, though json_extract reads them so
        ({"flag": True}, {"flag-true"}),
        ({"flag": 1}, {"flag-one", "flag-one-real"}),
        ({"flag": False}, {"flag-false"}),
        ({"flag": 0}, {"flag-zero"}),
        ({"flag": None}, {"flag-null"}),
        ({"flag": "true"}, {"flag-text"}),
        ({"flag": {"$in": [True, 0]}}, {"flag-true", "flag-zero"}),
        # the negations match items without the key
        ({"flag": {"$ne": True}}, ALL - {"flag-true"}),
        ({"flag": {"$nin": [1, None]}}, ALL - {"flag-one", "flag-one-real", "flag-null"}),
        ({"flag": {"$ne": True, "$exists": True}}, {f for f in ALL if f.startswith("flag-")} - {"flag-true"}),
        ({"user": {"$not": {"$eq": "ana"}}}, ALL - {"ana", "nested"}),
        ({"$not": {"user": "ana"}}, ALL - {"ana", "nested"}),
        # order only within a kind
        ({"age": {"$gt": 30}}, {"ana", "age-real", "huge", "ana-capital", "big-int"}),
        ({"age": {"$gt": "3"}}, {"age-text"}),
        ({"age": {"$gte": 34, "$lte": 34}}, {"ana", "age-real"}),
        ({"age": 9007199254740993}, {"big-int"}),  # exact beyond 2**53
        ({"score": {"$lt": 0.1}}, {"negative", "tiny"}),
        ({"city": {"$gt": "a"}}, {"ascii-city"}),  # code-point order: "Z" < "a" < "z"
        ({"city": {"$gt": "Zz"}}, {"unicode", "ascii-city"}),  # "ü" > "z"
        ({"city": {"$lt": "Zz"}}, {"empty-city"}),
        # timestamps as ISO-8601 UTC strings; a date sorts before every time of its day
        ({"at": {"$gte": date(2024, 5, 1), "$lt": date(2024, 5, 2)}}, {"ana", "late-evening", "day"}),
        ({"at": datetime(2024, 5, 1, 21, 59, tzinfo=UTC)}, {"late-evening"}),
        ({"at": datetime(2024, 5, 1, 14, tzinfo=PLUS_TWO)}, {"ana"}),
        ({"at": {"$lt": datetime(2024, 1, 1, tzinfo=UTC)}}, {"new-year-eve"}),
        ({"at": date(2024, 4, 30)}, {"day-before"}),
        # keys are literal, whatever their characters
        ({"a.b": 1}, {"dotted"}),
        ({"a": {"$exists": True}}, {"dotted"}),
        ({'q"uote': "x", "it's": "y"}, {"quotes"}),
        ({"sp ace": 5}, {"odd-keys"}),
        ({"": "empty key"}, {"odd-keys"}),
        ({"back\\slash": 1, "new\nline": 2}, {"escapes"}),
        ({"名前": "太郎"}, {"unicode"}),
        ({"city": "Zürich"}, {"unicode"}),
        # containers are opaque: only $exists sees them
        ({"tags": {"$exists": True}}, {"ana", "containers"}),
        ({"obj": {"$exists": False}, "tags": {"$exists": True}}, {"ana"}),
        ({"nested": {"$ne": 3}}, ALL),
        # logic
        ({"$or": [{"user": "bob"}, {"age": 0}]}, {"bob", "tiny"}),
        ({"$and": [{"user": "ana"}, {"age": 34}]}, {"ana"}),
        ({"user": "ana", "$or": [{"age": 34}, {"nested": {"$exists": True}}]}, {"ana", "nested"}),
        ({"$not": {}}, set()),
    ],
)
def test_semantics(db: sqlite3.Connection, where: Mapping[str, Any] | None, names: set[str]) -> None:
    assert select(db, where) == names
    if where is not None:
        assert expected(where) == names  # the reference agrees with the hand-written answer


SCALARS: list[Any] = [
    True,
    False,
    None,
    0,
    1,
    1.0,
    34,
    -5,
    0.1,
    2**62,
    "ana",
    "",
    "Zürich",
    "34",
    date(2024, 5, 1),
    datetime(2024, 5, 1, 12, tzinfo=UTC),
]
ORDERED = [v for v in SCALARS if v is not None and not isinstance(v, bool)]
KEYS = ["user", "age", "score", "flag", "at", "city", "tags", "a.b", "missing"]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("op", ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$not"])
def test_every_operator_agrees_with_the_reference(db: sqlite3.Connection, key: str, op: str) -> None:
    args: list[Any]
    if op in ("$eq", "$ne"):
        args = SCALARS
    elif op in ("$in", "$nin"):
        args = [[v] for v in SCALARS] + [SCALARS, ["ana", 34, True], [None, 0.1, date(2024, 4, 30)]]
    elif op == "$exists":
        args = [True, False]
    elif op == "$not":
        args = [{"$gt": 1}, {"$in": ["ana", 1]}, {"$exists": True}, {"$not": {"$eq": None}}]
    else:
        args = ORDERED
    for arg in args:
        where = {key: {op: arg}}
        assert select(db, where) == expected(where), where


# -- random filters ---------------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=4)
#: per key, the scalars items hold under it: filters built from them split the items instead of missing them all
HELD = {
    key: [meta[key] for meta in ITEMS.values() if key in meta and not isinstance(meta[key], list | dict)]
    for key in {k for meta in ITEMS.values() for k in meta}
}


@cache  # built once per key: flatmap would otherwise rebuild them for every draw
def _scalars(key: str) -> st.SearchStrategy[Any]:
    anything = st.one_of(
        st.sampled_from(SCALARS),
        st.integers(-10, 100),
        st.floats(allow_nan=False, allow_infinity=False),
        TEXT,
        st.dates(),
        st.datetimes(timezones=st.sampled_from([UTC, PLUS_TWO])),
    )
    return st.one_of(st.sampled_from(HELD.get(key) or SCALARS), anything)  # half of them held values


@cache
def _operators(key: str, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    scalars = _scalars(key)
    pairs = [
        st.tuples(st.sampled_from(["$eq", "$ne"]), scalars),
        st.tuples(
            st.sampled_from(["$gt", "$gte", "$lt", "$lte"]),
            scalars.filter(lambda v: v is not None and not isinstance(v, bool)),
        ),
        st.tuples(st.sampled_from(["$in", "$nin"]), st.lists(scalars, min_size=1, max_size=4)),
        st.tuples(st.just("$exists"), st.booleans()),
    ]
    if depth:
        pairs.append(st.tuples(st.just("$not"), _operators(key, depth - 1)))
    return st.lists(st.one_of(pairs), min_size=1, max_size=2, unique_by=lambda p: p[0]).map(dict)


@cache
def _condition(key: str) -> st.SearchStrategy[tuple[str, Any]]:
    return st.tuples(st.just(key), st.one_of(_scalars(key), _operators(key, 2)))


FILTER_KEYS = [*KEYS, 'q"uote', "名前", "sp ace", "", MALICIOUS]
leaves = st.lists(st.sampled_from(FILTER_KEYS).flatmap(_condition), min_size=1, max_size=2).map(dict)
filters = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda fs: {"$and": fs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda fs: {"$or": fs}),
        inner.map(lambda f: {"$not": f}),
        st.tuples(leaves, inner).map(lambda t: {**t[0], "$or": [t[1]]}),
    ),
    max_leaves=8,
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=filters)
def test_random_filters_agree_with_the_reference(db: sqlite3.Connection, where: dict[str, Any]) -> None:
    assert select(db, where) == expected(where)


# -- errors -----------------------------------------------------------------------------------------


def _deep(levels: int) -> dict[str, Any]:
    where: dict[str, Any] = {"user": "ana"}
    for _ in range(levels - 1):
        where = {"$not": where}
    return where


CYCLE: dict[str, Any] = {}
CYCLE["$not"] = CYCLE


@pytest.mark.parametrize(
    ("where", "path", "says"),
    [
        ({"age": {"$gtt": 1}}, 'where["age"]["$gtt"]', "unknown operator '$gtt' (expected one of $eq, $ne"),
        ({"$where": "1"}, 'where["$where"]', "unknown operator '$where'"),
        ({"$gt": 1}, 'where["$gt"]', "applies to a field"),
        ({"age": {"$and": [{"a": 1}]}}, 'where["age"]["$and"]', "unknown operator"),
        ({"age": {"$gt": [1]}}, 'where["age"]["$gt"]', "got a list"),
        ({"age": {"$gt": True}}, 'where["age"]["$gt"]', "a number, string, date or datetime"),
        ({"age": {"$lte": None}}, 'where["age"]["$lte"]', "got NoneType None"),
        ({"age": {"$in": 3}}, 'where["age"]["$in"]', "non-empty list"),
        ({"age": {"$in": "ab"}}, 'where["age"]["$in"]', "non-empty list"),
        ({"age": {"$nin": []}}, 'where["age"]["$nin"]', "an empty list"),
        ({"age": {"$in": [1, [2]]}}, 'where["age"]["$in"][1]', "got a list"),
        ({"age": {"$in": [{"b": 1}]}}, 'where["age"]["$in"][0]', "got a dict"),
        ({"$and": []}, 'where["$and"]', "non-empty list of filters"),
        ({"$or": {"a": 1}}, 'where["$or"]', "non-empty list of filters"),
        ({"$and": [{"a": 1}, 3]}, 'where["$and"][1]', "expected a filter"),
        ({"$or": [{"a": {"$gtt": 1}}]}, 'where["$or"][0]["a"]["$gtt"]', "unknown operator"),
        ({"$not": [1]}, 'where["$not"]', "expected a filter"),
        ({"a": {"x": 1}}, 'where["a"]["x"]', "equality with an object is not supported"),
        ({"a": {"$gt": 1, "x": 1}}, 'where["a"]["x"]', "expected an operator"),
        ({"a": {}}, 'where["a"]', "empty operator object"),
        ({"a": {"$eq": {"$gt": 1}}}, 'where["a"]["$eq"]', "got a dict"),
        ({"a": [1, 2]}, 'where["a"]', "got a list"),
        ({"a": {1, 2}}, 'where["a"]', "got set"),
        ({1: 2}, "where[1]", "keys must be strings"),
        ({"a": {"$exists": 1}}, 'where["a"]["$exists"]', "True or False"),
        ({"a": {"$not": 5}}, 'where["a"]["$not"]', "operator object"),
        ({"a": {"$not": {"b": 1}}}, 'where["a"]["$not"]["b"]', "expected an operator"),
        ({"a": datetime(2024, 5, 1)}, 'where["a"]', "naive datetime"),
        ({"a": {"$in": [datetime(2024, 5, 1)]}}, 'where["a"]["$in"][0]', "naive datetime"),
        ({"a": float("nan")}, 'where["a"]', "cannot be compared"),
        ({"a": {"$gt": float("-inf")}}, 'where["a"]["$gt"]', "cannot be compared"),
        ({"a": 2**63}, 'where["a"]', "64 bits"),
        ({"a": {"$in": [-(2**63) - 1]}}, 'where["a"]["$in"][0]', "64 bits"),
        ({"a": "x\x00y"}, 'where["a"]', "NUL"),
        ({"a\x00": 1}, 'where["a\\u0000"]', "NUL"),
        ({"a": "\ud800"}, 'where["a"]', "not valid Unicode"),
        (_deep(MAX_DEPTH + 1), "where" + '["$not"]' * MAX_DEPTH, "deeper than 32"),
        (CYCLE, "where" + '["$not"]' * MAX_DEPTH, "deeper than 32"),
        ([{"a": 1}], "where", "expected a filter"),
        ("a = 1", "where", "expected a filter"),
    ],
)
def test_errors_name_the_offending_part(where: Any, path: str, says: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        compile_where(where)
    message = str(caught.value)
    assert message.startswith(path + ":"), message
    assert says in message, message


def test_depth_limit_is_inclusive(db: sqlite3.Connection) -> None:
    assert select(db, _deep(MAX_DEPTH)) == expected(_deep(MAX_DEPTH)) == ALL - {"ana", "nested"}
    operators: dict[str, Any] = {"$eq": "ana"}  # operator objects are levels too
    for _ in range(MAX_DEPTH - 2):
        operators = {"$not": operators}
    assert select(db, {"user": operators}) == {"ana", "nested"}
    with pytest.raises(InvalidInputError, match="deeper than 32"):
        compile_where({"user": {"$not": operators}})


def test_column_must_be_an_identifier(db: sqlite3.Connection) -> None:
    with pytest.raises(InvalidInputError, match="column"):
        compile_where({"a": 1}, column="metadata); DROP TABLE items; --")
    sql, params = compile_where({"user": "bob"}, column="items.metadata")
    assert {r[0] for r in db.execute(f"SELECT id FROM items WHERE {sql}", params)} == {"bob"}


# -- injection, size, and the store's encoder -------------------------------------------------------


@pytest.mark.parametrize("evil", [MALICIOUS, "'; DROP TABLE items; --", '") OR 1=1 --', '."user"', "*/ 1 /*"])
def test_malicious_keys_and_values_are_inert(db: sqlite3.Connection, evil: str) -> None:
    for where in ({evil: 1}, {"user": evil}, {evil: {"$exists": True}}, {"user": {"$in": [evil, 1]}}):
        sql, params = compile_where(where)
        assert evil not in sql
        assert select(db, where) == expected(where)
    assert select(db, {MALICIOUS: "boom"}) == {"malicious-key"}
    assert select(db, {"user": {"$ne": MALICIOUS}}) == ALL
    assert db.execute("SELECT count(*) FROM items").fetchone()[0] == len(ITEMS)


def test_large_filters_stay_within_sqlite_limits(db: sqlite3.Connection) -> None:
    many_or = {"$or": [{"age": i} for i in range(3000)]}  # a left-deep OR would pass SQLite's depth 1000
    assert select(db, many_or) == expected(many_or) == {"bob", "tiny", "ana", "age-real", "ana-capital"}
    many_in = {"user": {"$in": [f"u{i}" for i in range(50_000)] + ["bob"]}}  # past the 32766-parameter limit
    sql, params = compile_where(many_in)
    assert len(params) == 2
    assert select(db, many_in) == {"bob"}


def test_json_default_writes_what_filters_compare() -> None:
    assert json_default(datetime(2024, 5, 1, 14, tzinfo=PLUS_TWO)) == "2024-05-01T12:00:00.000000+00:00"
    assert json_default(datetime(2024, 5, 1, 12, 0, 0, 5, tzinfo=UTC)) == "2024-05-01T12:00:00.000005+00:00"
    assert json_default(date(2024, 5, 1)) == "2024-05-01"
    with pytest.raises(InvalidInputError, match="naive"):
        json.dumps({"at": datetime(2024, 5, 1)}, default=json_default)
    with pytest.raises(TypeError, match="set"):
        json.dumps({"s": {1}}, default=json_default)


@given(
    st.lists(
        st.datetimes(datetime(2, 1, 1), datetime(9998, 12, 31), timezones=st.sampled_from([UTC, PLUS_TWO])),
        min_size=2,
        max_size=2,
    )
)
def test_stored_timestamps_sort_as_time_does(pair: list[datetime]) -> None:
    a, b = pair
    assert (a < b) == (json_default(a) < json_default(b))  # fixed width: string order is time order
    assert (a == b) == (json_default(a) == json_default(b))


def test_compiling_is_deterministic_and_never_touches_the_database() -> None:
    where = {"user": "ana", "$or": [{"age": {"$gt": 3}}, {"at": {"$lt": date(2024, 1, 1)}}]}
    assert compile_where(where) == compile_where(where)
    assert re.fullmatch(r"[^']*('[a-z]*'[^']*)*", compile_where(where)[0])  # only the code's own type literals
