"""Danish identifiers: CPR, SOR and GLN (EAN-13). Pure checks returning a reason, or None when well-formed, and
the masking of CPR numbers wherever they could be shown (outcomes, logs, the operator API).

A reason never quotes the value it is about: it goes into OperationOutcomes, which are stored and shown.
"""

from __future__ import annotations

import re
from typing import Any

_CPR = re.compile(r"^\d{10}$")
_SOR = re.compile(r"^\d{1,18}$")
_GLN = re.compile(r"^\d{13}$")
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def cpr_problem(value: str) -> str | None:
    """Why `value` is not a well-formed CPR number (10 digits, DDMMYY a calendar date), or None."""
    if not _CPR.match(value):
        return "a CPR number is 10 digits"
    day, month = int(value[0:2]), int(value[2:4])
    if not 1 <= month <= 12:
        return f"a CPR number starts with DDMMYY; month {month:02d} does not exist"
    if not 1 <= day <= _DAYS_IN_MONTH[month - 1]:
        return f"a CPR number starts with DDMMYY; day {day:02d} does not exist in month {month:02d}"
    return None


def sor_problem(value: str) -> str | None:
    """Why `value` is not a well-formed SOR code (digits only, at most 18), or None."""
    if not _SOR.match(value):
        return "a SOR code is 1 to 18 digits"
    return None


def gln_check_digit(first_twelve: str) -> int:
    """The GS1 check digit for the first 12 digits of an EAN-13 / GLN."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first_twelve))
    return (10 - total % 10) % 10


def gln_problem(value: str) -> str | None:
    """Why `value` is not a valid GLN (13 digits with a GS1 check digit), or None."""
    if not _GLN.match(value):
        return "a GLN is 13 digits"
    expected = gln_check_digit(value[:12])
    if int(value[12]) != expected:
        return f"the GLN has check digit {value[12]}, expected {expected}"
    return None


def mask_cpr(value: str | None) -> str | None:
    """A CPR number shown to people or logs: the birth date part only (DDMMYY-xxxx)."""
    if not value:
        return value
    return value[:6] + "-xxxx" if len(value) >= 6 else "xxxx"


# What a CPR number looks like in free text: ten digits standing alone, or DDMMYY-XXXX. A UUID is matched first and
# left whole: the hub's tracking ids (and most message ids) are UUIDs, and about one in two hundred has ten digits
# in a row somewhere; masking those would break the ids operators look messages up by.
_UUID_TEXT = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_CPR_IN_TEXT = re.compile(rf"(?<![0-9A-Fa-f-])({_UUID_TEXT})(?![0-9A-Fa-f-])|(?<!\d)(\d{{6}})-?\d{{4}}(?!\d)")
_MAY_HOLD_CPR = re.compile(r"\d{6}")  # the cheap test first: most texts have no six digits in a row


def _masked_match(match: re.Match[str]) -> str:
    uuid = match.group(1)
    return uuid if uuid is not None else match.group(2) + "-xxxx"


def mask_cpr_in_text(text: str) -> str:
    """The text with every CPR-shaped number in it masked as mask_cpr does (250947-xxxx); UUIDs are kept."""
    if _MAY_HOLD_CPR.search(text) is None:
        return text
    return _CPR_IN_TEXT.sub(_masked_match, text)


def mask_cpr_everywhere(value: Any) -> Any:
    """A JSON-like value (an API answer, a log entry) with mask_cpr_in_text applied to every string in it, keys
    included; numbers and other scalars are kept. Iterative: the depth of the value cannot reach the recursion
    limit."""
    if isinstance(value, str):
        return mask_cpr_in_text(value)
    if not isinstance(value, dict | list | tuple):
        return value
    root: list[Any] = [value]
    todo: list[tuple[Any, list[Any] | dict[str, Any], Any]] = [(value, root, 0)]
    while todo:
        source, parent, place = todo.pop()
        if isinstance(source, dict):
            copy: dict[Any, Any] | list[Any] = {}
            items: Any = ((mask_cpr_in_text(k) if isinstance(k, str) else k, v) for k, v in source.items())
        else:
            copy = [None] * len(source)
            items = enumerate(source)
        parent[place] = copy
        for key, child in items:
            if isinstance(child, str):
                copy[key] = mask_cpr_in_text(child)
            elif isinstance(child, dict | list | tuple):
                copy[key] = None  # its place, so that the copy keeps the order of the keys
                todo.append((child, copy, key))
            else:
                copy[key] = child
    return root[0]
