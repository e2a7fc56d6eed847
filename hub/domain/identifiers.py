"""Danish identifiers: CPR, SOR and GLN (EAN-13). Pure checks returning a reason, or None when well-formed."""

from __future__ import annotations

import re

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
        return f"GLN {value} has check digit {value[12]}, expected {expected}"
    return None


def mask_cpr(value: str | None) -> str | None:
    """A CPR number shown to people or logs: the birth date part only (DDMMYY-xxxx)."""
    if not value:
        return value
    return value[:6] + "-xxxx" if len(value) >= 6 else "xxxx"
