"""Member navigation (a.b), as fhirpathpy's create_reduce_member_invocation takes it, with the child paths memoised.

Each item of a result is still a fhirpathpy ResourceNode (so types resolve as there), made without the strings
fhirpathpy spells but never reads (propName); the memo of (parent path, key) -> child path is one per model,
shared by all compiled expressions, and bounded (paths come from resourceType values, which a sender chooses).
"""

from __future__ import annotations

from collections import abc
from collections.abc import Callable
from typing import Any

from hub.validate.fhirpath.upstream import FP_Quantity, ResourceNode, make_node

_MAPPING = abc.Mapping


class Node(ResourceNode):
    """A ResourceNode with the constructor navigation needs (no _data, propName, index: fhirpathpy only reads
    propName to spell the propName of children) and a quick test for a JSON object."""

    def __init__(self, data: Any, path: Any) -> None:
        if type(data) is dict:
            if "resourceType" in data:
                path = data["resourceType"]
        elif isinstance(data, _MAPPING) and "resourceType" in data:
            path = data["resourceType"]
        self.path = path
        self.data = data
        self._data = None
        self.propName = None
        self.index = None


MEMO_LIMIT = 20_000  # child paths memoised (paths come from resourceType values, which a sender chooses)


_NAVIGATIONS: dict[int, Navigation] = {}

# (key, id of the model's list of types) -> (that list, JSON name -> position); bounded: one per choice element
_CHOICE_ORDERS: dict[tuple[str, int], tuple[list[str], dict[str, int]]] = {}


def choice_order(key: str, actual_types: list[str]) -> dict[str, int]:
    """JSON name (valueX and _valueX) -> the position of its type among the choice's types: the type navigation
    takes is the first (in the model's order) with a value or extensions present, the least position found among
    the object's keys (not a look-up per type: Extension.value[x] has 50)."""
    found = _CHOICE_ORDERS.get((key, id(actual_types)))
    if found is None or found[0] is not actual_types:
        order: dict[str, int] = {}
        for i, actual_type in enumerate(actual_types):
            order.setdefault(f"{key}{actual_type}", i)
            order.setdefault(f"_{key}{actual_type}", i)
        found = _CHOICE_ORDERS[(key, id(actual_types))] = (actual_types, order)
    return found[1]


def navigation(model: dict[str, Any]) -> Navigation:
    """One navigation (and memo of child paths) per model, shared by all compiled expressions."""
    found = _NAVIGATIONS.get(id(model))
    if found is None:
        found = _NAVIGATIONS[id(model)] = Navigation(model)
    return found


class Navigation:
    """fhirpathpy's member navigation (create_reduce_member_invocation), with the child paths memoised."""

    def __init__(self, model: dict[str, Any]) -> None:
        self.elsewhere: dict[str, str] = model["pathsDefinedElsewhere"]
        self.choices: dict[str, list[str]] = model["choiceTypePaths"]
        self.path2type: dict[str, str] = model["path2Type"]
        # (parent path, key) -> (child path before path2Type, choice types or None)
        self.memo: dict[tuple[Any, str], tuple[str, list[str] | None]] = {}

    def child(self, path: Any, key: str) -> tuple[str, list[str] | None]:
        memoised = type(path) is str  # a resourceType of another JSON type (1 == True == 1.0) is not
        if memoised:
            found = self.memo.get((path, key))
            if found is not None:
                return found
        child_path = f"{path}.{key}" if path else f"_.{key}"
        child_path = self.elsewhere.get(child_path, child_path)
        found = (child_path, self.choices.get(child_path))
        if memoised and len(self.memo) < MEMO_LIMIT:
            self.memo[(path, key)] = found
        return found

    def member(self, key: str) -> Callable[[list[Any]], list[Any]]:
        path2type = self.path2type
        child = self.child
        extension_key = "_" + key
        is_extension = key == "extension"
        is_length = key == "length"
        mapping = abc.Mapping
        node = Node
        # parent path -> the path of a child that is no choice (after path2Type), or None for a choice element
        plain: dict[str, str | None] = {}

        def plain_path(path: str) -> str | None:
            child_path, actual_types = child(path, key)
            found = None
            if not actual_types:
                if is_extension:
                    child_path = "Extension"
                found = path2type.get(child_path, child_path)
            if len(plain) < MEMO_LIMIT:
                plain[path] = found
            return found

        def navigate(data: list[Any]) -> list[Any]:
            acc: list[Any] = []
            for res in data:
                if not isinstance(res, ResourceNode):
                    res = make_node(res, None)
                value = res.data
                path = res.path
                if type(value) is dict and type(path) is str:
                    # the common case: a JSON object at a known path, an element that is no choice
                    target = plain[path] if path in plain else plain_path(path)
                    if target is not None:
                        for part in (value.get(key), value.get(extension_key)):
                            if part is None:
                                continue
                            if isinstance(part, list):
                                for x in part:
                                    acc.append(x if isinstance(x, ResourceNode) else node(x, target))
                            else:
                                acc.append(part if isinstance(part, ResourceNode) else node(part, target))
                        continue
                child_path, actual_types = child(path, key)
                to_add: Any = None
                to_add_: Any = None
                if isinstance(value, FP_Quantity):
                    to_add = value.value
                if actual_types and isinstance(value, mapping):
                    # the first of the choice's types with a value or extensions present (choice_order)
                    order = choice_order(key, actual_types)
                    first = min(
                        (order[name] for name in value if name in order and value[name] is not None), default=None
                    )
                    if first is not None:
                        actual_type = actual_types[first]
                        to_add = value.get(f"{key}{actual_type}")
                        to_add_ = value.get(f"_{key}{actual_type}")
                        child_path += actual_type
                elif isinstance(value, mapping):
                    to_add = value.get(key)
                    to_add_ = value.get(extension_key)
                    if is_extension:
                        child_path = "Extension"
                elif is_length:
                    to_add = len(value)
                child_path = path2type.get(child_path, child_path)
                for part in (to_add, to_add_):
                    if part is None or (isinstance(part, list) and len(part) == 0):
                        continue
                    if isinstance(part, list):
                        for x in part:
                            acc.append(x if isinstance(x, ResourceNode) else node(x, child_path))
                    else:
                        acc.append(part if isinstance(part, ResourceNode) else node(part, child_path))
            return acc

        return navigate
