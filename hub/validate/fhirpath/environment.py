"""The environment a compiled expression is evaluated in, as fhirpathpy's apply_parsed_path sets it up.

The context (ctx: the data root, the variables %context, %resource, %rootResource and %ucum, the model, the user
functions, the trace function), the check built around a compiled body (an exception counts as holding), the test
of the final result (only the single false fails; for an expression that follows references with resolve(), only
the single true holds, as the HL7 validator takes invariants), and fhirpathpy's conventions for collections (None
and [] are empty).
"""

from __future__ import annotations

from collections import abc
from collections.abc import Callable
from typing import Any

from hub.validate.fhirpath.upstream import FP_Type, Invocation, ResourceNode, make_node, reset_clock

Closure = Callable[[dict[str, Any], Any], Any]  # (ctx, the input collection) -> the result collection
Check = Callable[[Any, Any, Any, str], bool]  # (node, resource, root, type path) -> the invariant holds


def is_some(x: Any) -> bool:
    return x is not None and not (isinstance(x, list) and len(x) == 0)


def is_nullable(x: Any) -> bool:
    return x is None or (isinstance(x, list) and len(x) == 0)


def arraify(x: Any) -> list[Any]:
    if isinstance(x, list):
        return x
    if is_some(x):
        return [x]
    return []


def holds(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    return True


def checker(
    body: Closure,
    model: dict[str, Any],
    user_table: dict[str, Invocation],
    uses_clock: bool,
    trace: Callable[..., None],
    only_true: bool = False,
) -> Check:
    """The check of a compiled body: a fresh ctx per evaluation (the clock reset first when the expression reads
    it), and the result held unless it is the single boolean false; with only_true (an expression that follows
    references with resolve(), as the HL7 validator takes every invariant) held only when it is the single true."""
    reset = reset_clock

    def check(node: Any, resource: Any, root: Any, type_path: str) -> bool:
        # as rules._Fhirpath's check around fhirpathpy's apply_parsed_path (without returnRawData)
        try:
            start: Any = node if "resourceType" in node else make_node(node, type_path)
            if uses_clock:
                reset()
            data_root = start if isinstance(start, list) else ([start] if is_some(start) else [])
            ctx = {
                "dataRoot": data_root,
                "vars": {
                    "context": start,
                    "ucum": "http://unitsofmeasure.org",
                    "resource": resource,
                    "rootResource": root,
                },
                "model": model,
                "userInvocationTable": user_table,
                "traceFn": trace,
            }
            result = body(ctx, data_root)
            return single_true(result) if only_true else not single_false(result)
        except Exception:  # fhirpathpy fails on this content: not held against it (as rules._Fhirpath)
            return True

    return check


def evaluator(
    body: Closure,
    model: dict[str, Any],
    user_table: dict[str, Invocation],
    trace: Callable[..., None],
) -> Callable[[Any, dict[str, Any] | None], list[Any]]:
    """The evaluation of a compiled body as fhirpathpy.evaluate does it: (resource or None, variables) -> the result
    collection after fhirpathpy's final conversion (visit). Exceptions propagate, as there (a checker instead takes
    them as holding); the clock is reset for every evaluation, as apply_parsed_path does."""

    def evaluate(resource: Any, variables: dict[str, Any] | None = None) -> list[Any]:
        reset_clock()
        data_root = arraify(resource)
        ctx = {
            "dataRoot": data_root,
            "vars": {"context": resource, "ucum": "http://unitsofmeasure.org", **(variables or {})},
            "model": model,
            "userInvocationTable": user_table,
            "traceFn": trace,
        }
        result: list[Any] = _visited(arraify(body(ctx, data_root)))
        return result

    return evaluate


def _visited(node: Any) -> Any:
    """fhirpathpy's visit: ResourceNodes to their data, primitive extension parts (an object with only extension)
    left out of collections, FP types kept."""
    data = node.data if isinstance(node, ResourceNode) else node
    if isinstance(node, list):
        kept = []
        for item in data:
            value = _visited(item)
            if isinstance(value, dict) and list(value.keys()) == ["extension"]:
                continue
            kept.append(value)
        return kept
    if isinstance(data, dict) and not isinstance(data, FP_Type):
        return {key: _visited(value) for key, value in data.items()}
    return data


def single_false(result: Any) -> bool:
    """fhirpathpy's final conversion of the result (visit) keeps exactly one item, the boolean false."""
    return _single(result) is False


def single_true(result: Any) -> bool:
    """fhirpathpy's final conversion of the result (visit) keeps exactly one item, the boolean true."""
    return _single(result) is True


def _single(result: Any) -> Any:
    """The one item fhirpathpy's final conversion of the result keeps, or None (none, or more than one)."""
    if not isinstance(result, list):
        return result.data if isinstance(result, ResourceNode) else result  # pragma: no cover - always lists
    kept = []
    for item in result:
        data = item.data if isinstance(item, ResourceNode) else item
        if isinstance(data, abc.Mapping) and not isinstance(data, FP_Type) and list(data.keys()) == ["extension"]:
            continue  # fhirpathpy drops primitive extension parts from its results
        kept.append(data)
        if len(kept) > 1:
            return None
    return kept[0] if len(kept) == 1 else None
