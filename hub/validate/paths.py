"""FHIRPath expressions for issue locations: Bundle.entry[0].resource.destination[1].receiver."""

from __future__ import annotations

import re
from collections.abc import Iterable

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LONGEST_NAME = 64  # a longer (unknown, hostile) property name is shortened in expressions
# JSON key -> how it is spelled in a path (".name", or escaped); memoised for the keys seen, which are mostly
# the element names of FHIR, up to a bound (keys come from the messages, and a sender chooses them)
_SPELLED: dict[str, str] = {}
_SPELLED_LIMIT = 10_000


def _spell(key: str) -> str:
    name = key[1:] if key.startswith("_") and len(key) > 1 else key
    if len(name) > _LONGEST_NAME:
        name = name[: _LONGEST_NAME - 3] + "..."
    if _NAME.fullmatch(name):
        spelled = f".{name}"
    else:
        escaped = name.replace("\\", "\\\\").replace("`", "\\`")
        spelled = f".`{escaped}`"
    if len(_SPELLED) < _SPELLED_LIMIT:
        _SPELLED[key] = spelled
    return spelled


def child(path: str, key: str) -> str:
    """The path of a JSON property: a primitive's extension part `_x` is the element `x` itself."""
    spelled = _SPELLED.get(key)
    return path + (spelled if spelled is not None else _spell(key))


def item(path: str, index: int) -> str:
    return f"{path}[{index}]"


def from_parts(parts: Iterable[str | int], root: str = "Bundle") -> str:
    """A path from JSON keys and array indices, e.g. ('entry', 0, 'resource') -> Bundle.entry[0].resource."""
    path = root
    for part in parts:
        path = item(path, part) if isinstance(part, int) else child(path, part)
    return path
