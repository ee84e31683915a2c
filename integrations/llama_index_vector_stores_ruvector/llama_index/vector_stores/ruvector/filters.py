"""LlamaIndex ``MetadataFilters`` as the memory's ``where`` language.

Each operator the memory evaluates exactly is mapped; the others (``any``, ``all``,
``contains``, ``text_match``, ``text_match_insensitive``, ``is_empty``) would need array or
substring matching the ``where`` language does not have, so they raise an
``InvalidInputError`` naming the operator instead of being approximated. A missing key
matches ``!=`` and ``nin`` (as LlamaIndex's own in-memory store does) and nothing else.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilter, MetadataFilters

import ruvector_core as rv

_OPERATORS = {
    FilterOperator.EQ: "$eq",
    FilterOperator.NE: "$ne",
    FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt",
    FilterOperator.LTE: "$lte",
    FilterOperator.IN: "$in",
    FilterOperator.NIN: "$nin",
}


def to_where(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """The ``where`` filter selecting what ``filters`` selects (None: everything)."""
    if filters is None or not filters.filters:
        return None
    parts = [_filter(f) if isinstance(f, MetadataFilter) else _nested(f) for f in filters.filters]
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.AND:
        return parts[0] if len(parts) == 1 else {"$and": parts}
    if condition == FilterCondition.OR:
        return parts[0] if len(parts) == 1 else {"$or": parts}
    if condition == FilterCondition.NOT:  # none of them matches
        return {"$not": parts[0] if len(parts) == 1 else {"$or": parts}}
    raise rv.InvalidInputError(f"filter condition {condition!r} is not supported (and, or, not are)")


def _nested(filters: MetadataFilters) -> dict[str, Any]:
    where = to_where(filters)
    if where is None:
        raise rv.InvalidInputError("a nested MetadataFilters holds no filters")
    return where


def _filter(metadata_filter: MetadataFilter) -> dict[str, Any]:
    operator = _OPERATORS.get(metadata_filter.operator)
    if operator is None:
        supported = ", ".join(op.value for op in _OPERATORS)
        raise rv.InvalidInputError(
            f"filter operator {metadata_filter.operator.value!r} on {metadata_filter.key!r} is not supported "
            f"by the ruvector store (supported: {supported}, combined with and, or, not)"
        )
    return {metadata_filter.key: {operator: metadata_filter.value}}
