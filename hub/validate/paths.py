"""FHIRPath expressions for issue locations: Bundle.entry[0].resource.destination[1].receiver."""

from __future__ import annotations

import re
from collections.abc import Iterable

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LONGEST_NAME = 64  # a longer (unknown, hostile) property name is shortened in expressions


def child(path: str, key: str) -> str:
    """The path of a JSON property: a primitive's extension part `_x` is the element `x` itself."""
    name = key[1:] if key.startswith("_") and len(key) > 1 else key
    if len(name) > _LONGEST_NAME:
        name = name[: _LONGEST_NAME - 3] + "..."
    if _NAME.fullmatch(name):
        return f"{path}.{name}"
    escaped = name.replace("\\", "\\\\").replace("`", "\\`")
    return f"{path}.`{escaped}`"


def item(path: str, index: int) -> str:
    return f"{path}[{index}]"


def from_parts(parts: Iterable[str | int], root: str = "Bundle") -> str:
    """A path from JSON keys and array indices, e.g. ('entry', 0, 'resource') -> Bundle.entry[0].resource."""
    path = root
    for part in parts:
        path = item(path, part) if isinstance(part, int) else child(path, part)
    return path
