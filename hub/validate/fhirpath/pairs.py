"""FHIRPath steps over (JSON value, path) pairs, for the native invariants of hub.validate.fhirpath.natives.

Each step is what fhirpathpy does on ResourceNodes (the same navigation, choice types, type tests, equality,
startsWith, and the same exceptions), without making ResourceNode objects: member navigation (nav, with the memo
PLAIN of child paths that are no choice), a capitalised name at the root (named), is and ofType (pair_is,
pairs_of_type, with the memo of hub.validate.fhirpath.functions), = with a string literal, startsWith, and the
type specifiers (TYPES).
"""

from __future__ import annotations

from collections import abc
from typing import Any

from hub.validate.fhirpath.functions import IS_MEMO
from hub.validate.fhirpath.navigation import MEMO_LIMIT, choice_order, navigation
from hub.validate.fhirpath.tree import Unsupported
from hub.validate.fhirpath.upstream import R4_MODEL, TypeInfo, equality, make_node, make_type, type_of


class Raises(Exception):
    """Where fhirpathpy raises (a collection where it expects one item, a value of another type)."""


Item = tuple[Any, Any]  # (JSON value, its fhirpathpy path)


_NOT_MAPPINGS = frozenset({str, list, int, float, bool, type(None)})


def is_mapping(value: Any) -> bool:
    """isinstance(value, Mapping), quick for the JSON types."""
    kind = type(value)
    return kind is dict or (kind not in _NOT_MAPPINGS and isinstance(value, abc.Mapping))


def path_of(value: Any, path: Any) -> Any:
    """The path of a child value: a resource's own type, else the path navigation gave."""
    if is_mapping(value) and "resourceType" in value:
        return value["resourceType"]
    return path


# (parent path, key) -> the path of the child when the element is no choice (after path2Type), else None
PLAIN: dict[tuple[str, str], str | None] = {}


UNKNOWN: Any = object()


def nav(items: list[Item], key: str) -> list[Item]:
    """Member navigation, as Navigation.member (and fhirpathpy) on ResourceNodes."""
    out: list[Item] = []
    for data, path in items:
        if type(data) is dict and type(path) is str:
            target = PLAIN.get((path, key), UNKNOWN)
            if target is UNKNOWN:
                target = _plain(path, key)
            if target is not None:
                for part in (data.get(key), data.get("_" + key)):
                    if part is None:
                        continue
                    if type(part) is list:
                        for x in part:
                            if type(x) is dict:
                                out.append((x, x.get("resourceType", target)))
                            else:
                                out.append((x, path_of(x, target)))
                    else:
                        out.append((part, path_of(part, target)))
                continue
        if is_mapping(data):
            navigator = navigation(R4_MODEL)
            child_path, actual_types = navigator.child(path, key)
            if actual_types:
                # the first of the choice's types (in the model's order) with a value or extensions present
                order = choice_order(key, actual_types)
                first = min((order[name] for name in data if name in order and data[name] is not None), default=None)
                to_add = to_add_ = None
                if first is not None:
                    actual_type = actual_types[first]
                    to_add = data.get(f"{key}{actual_type}")
                    to_add_ = data.get(f"_{key}{actual_type}")
                    child_path += actual_type
            else:
                to_add = data.get(key)
                to_add_ = data.get("_" + key)
                if key == "extension":
                    child_path = "Extension"
            target = navigator.path2type.get(child_path, child_path)
            for part in (to_add, to_add_):
                if part is None:
                    continue
                if isinstance(part, list):
                    out.extend((x, path_of(x, target)) for x in part)
                else:
                    out.append((part, path_of(part, target)))
        elif key == "length":  # pragma: no cover - no native navigates "length"
            raise Unsupported("length")
    return out


def _plain(path: str, key: str) -> str | None:
    navigator = navigation(R4_MODEL)
    child_path, actual_types = navigator.child(path, key)
    target = None
    if not actual_types:
        target = navigator.path2type.get("Extension" if key == "extension" else child_path)
        if target is None:
            target = "Extension" if key == "extension" else child_path
    if len(PLAIN) < MEMO_LIMIT:
        PLAIN[(path, key)] = target
    return target


def named(raw: bool, items: list[Item], key: str) -> list[Item]:
    """A capitalised name at the root: the raw resource when it has that type, else navigation."""
    if raw:
        data = items[0][0]
        try:
            return [(data, path_of(data, key))] if data["resourceType"] == key else []
        except TypeError:
            pass
    return nav(items, key)


def pair_is(item: Item, type_info: Any) -> Any:
    """TypeInfo.from_value(ResourceNode(value, path)).is_(type_info)."""
    data, path = item
    if type(path) is str:
        modelled = bool(TypeInfo.model)
        if modelled or "." not in path or path.startswith("System."):
            key = (path, modelled, type_info.name, type_info.namespace)
            found = IS_MEMO.get(key)
            if found is None:
                found = type_of(make_node(data, path)).is_(type_info)
                if len(IS_MEMO) < MEMO_LIMIT:
                    IS_MEMO[key] = found
            return found
    return type_of(make_node(data, path)).is_(type_info)


def pairs_of_type(items: list[Item], type_info: Any) -> list[Item]:
    """ofType: the items whose type is type_info (pair_is, its memo consulted here first)."""
    modelled = bool(TypeInfo.model)
    name, namespace = type_info.name, type_info.namespace
    found = []
    for item in items:
        path = item[1]
        # a memo entry exists only for a path whose type the path alone decides (see pair_is)
        known = IS_MEMO.get((path, modelled, name, namespace)) if type(path) is str else None
        if known if known is not None else pair_is(item, type_info):
            found.append(item)
    return found


def equals(items: list[Item], literal: str) -> bool | None:
    """items = 'literal': None for the empty collection (the operator's result is empty), else the boolean."""
    if not items:
        return None
    if len(items) != 1:
        return False
    data, path = items[0]
    if path is None:
        return bool(data == literal)
    if type(path) is not str:
        raise Raises("a path fhirpathpy cannot type")  # re.match on it raises
    if "Quantity" in path:  # equality converts a Quantity first: let fhirpathpy compare
        return bool(equality(None, [make_node(data, path)], [literal]))
    return bool(data == literal)


def single_string(items: list[Item]) -> str:
    """ensure_string_singleton."""
    if len(items) != 1 or not isinstance(items[0][0], str):
        raise Raises("expected one string")
    value: str = items[0][0]
    return value


def starts_with(items: list[Item], prefix: str) -> bool | None:
    if not items:
        return None
    value = single_string(items)
    return bool(value) and value.startswith(prefix)


def set_model() -> None:
    """What is_fn does first (and of_type_fn later reads)."""
    type_info: Any = TypeInfo
    type_info.model = R4_MODEL


def type_named(name: str) -> Any:
    """The TypeInfo of a type specifier without a namespace (as `is(Patient)` gives it)."""
    return make_type(name, None)


class _TypeInfos(dict[str, Any]):
    """Type name -> its TypeInfo (as a type specifier in an expression gives it; is_ only reads it)."""

    def __missing__(self, name: str) -> Any:
        found = self[name] = type_named(name)
        return found


TYPES = _TypeInfos()
