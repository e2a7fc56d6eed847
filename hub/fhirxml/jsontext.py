"""FHIR JSON text whose numbers keep their digits: ``1.50`` stays ``1.50`` through XML and back.

A FHIR decimal's precision is part of its value (1.50 is not 1.5), and the XML format writes it as text; a
float would lose it. `loads` reads every JSON number as a `Number` (its text), `dumps` writes it back as is.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


class Number:
    """A JSON number as it was written."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Number) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Number({self.text!r})"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(raw: bytes | str) -> Any:
    """JSON text to the object model, numbers as `Number` (a leading UTF-8 byte-order mark is skipped)."""
    text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    return json.loads(text, parse_float=Number, parse_int=Number, parse_constant=_no_constant)


def _fragment(value: object) -> orjson.Fragment:
    if isinstance(value, Number):
        return orjson.Fragment(value.text.encode())
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def dumps(document: Any) -> bytes:
    """The object model as compact JSON text (UTF-8), each `Number` as it was written."""
    return orjson.dumps(document, default=_fragment)
