"""fhirpathpy's where, exists, is and ofType, re-implemented with the same results, faster.

where and exists(criteria) evaluate each criterion once (fhirpathpy's where evaluates a criterion that gives a
result twice; the compiler uses these only for an expression that does not read $index or $total, which could
tell the difference); is and ofType memoise the type test where it depends on the node's path alone (IS_MEMO,
shared with hub.validate.fhirpath.pairs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hub.validate.fhirpath.navigation import MEMO_LIMIT
from hub.validate.fhirpath.upstream import ResourceNode, TypeInfo, flatten, type_of


def where_macro(ctx: dict[str, Any], data: Any, expr: Callable[[Any], Any]) -> Any:
    """fhirpathpy's where_macro, each criterion evaluated once."""
    if not isinstance(data, list):
        return []
    result = []
    for i, x in enumerate(data):
        ctx["$index"] = i
        found = expr(x)
        if len(found) > 0 and found[0]:
            result.append(x)
    return flatten(result)


def exists_macro(ctx: dict[str, Any], coll: Any, expr: Callable[[Any], Any] | None = None) -> Any:
    """fhirpathpy's exists_macro (with the where above)."""
    if expr is not None:
        coll = where_macro(ctx, coll, expr)
    return not (isinstance(coll, list) and len(coll) == 0)


# (path, whether TypeInfo.model is set, type name, namespace) -> is; for ResourceNodes with a str path, whose
# type fhirpathpy takes from the path alone (their data only matters without a model, for a path with a dot)
IS_MEMO: dict[tuple[str, bool, Any, Any], bool] = {}


def type_is(value: Any, type_info: Any) -> Any:
    """TypeInfo.from_value(value).is_(type_info), memoised where it depends on the path alone."""
    if isinstance(value, ResourceNode) and type(value.path) is str and isinstance(type_info, TypeInfo):
        path = value.path
        modelled = bool(TypeInfo.model)
        if modelled or "." not in path or path.startswith("System."):
            key = (path, modelled, type_info.name, type_info.namespace)
            found = IS_MEMO.get(key)
            if found is None:
                found = type_of(value).is_(type_info)
                if len(IS_MEMO) < MEMO_LIMIT:
                    IS_MEMO[key] = found
            return found
    return type_of(value).is_(type_info)


def is_fn(ctx: dict[str, Any], coll: Any, type_info: Any) -> Any:
    """fhirpathpy's is_fn."""
    type_info_class: Any = TypeInfo
    type_info_class.model = ctx.get("model")
    if not coll:
        return []
    if len(coll) > 1:
        raise ValueError(f"Expected singleton on left side of 'is', got {coll}")
    return type_is(coll[0], type_info)


def of_type_fn(ctx: dict[str, Any], coll: Any, type_info: Any) -> Any:
    """fhirpathpy's of_type_fn."""
    return [value for value in coll if type_is(value, type_info)]
