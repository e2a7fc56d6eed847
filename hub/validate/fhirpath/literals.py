"""The literals of an expression (true, 1.5, 'text', {}, @2024-01-01, @T12:00, 4 'mg'), compiled to closures.

A value is made once, when the expression is compiled, where fhirpathpy gives the same (immutable) value at every
evaluation; a date, time or quantity is made anew per evaluation, as fhirpathpy makes it.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from hub.validate.fhirpath.environment import Closure
from hub.validate.fhirpath.upstream import Tree, make_datetime, make_time, quantity_literal, string_literal


def _boolean(node: Tree) -> Closure:
    value = node["text"] == "true"
    return lambda ctx, data: [value]


def _number(node: Tree) -> Closure:
    decimal_number = Decimal(node["text"])
    int_number = int(decimal_number)
    value: Any = int_number if decimal_number == int_number else decimal_number
    return lambda ctx, data: [value]


def _string(node: Tree) -> Closure:
    value = string_literal(None, None, node)[0]
    return lambda ctx, data: [value]


def _null(node: Tree) -> Closure:
    return lambda ctx, data: []


def _datetime(node: Tree) -> Closure:
    text = node["text"][1:]
    return lambda ctx, data: [make_datetime(text)]


def _time(node: Tree) -> Closure:
    text = node["text"][2:]
    return lambda ctx, data: [make_time(text)]


def _quantity(node: Tree) -> Closure:
    return lambda ctx, data: quantity_literal(ctx, data, node)


# the type of a literal's node in the parse tree -> its compilation
LITERALS: dict[str, Callable[[Tree], Closure]] = {
    "BooleanLiteral": _boolean,
    "NumberLiteral": _number,
    "StringLiteral": _string,
    "NullLiteral": _null,
    "DateTimeLiteral": _datetime,
    "TimeLiteral": _time,
    "QuantityLiteral": _quantity,
}
