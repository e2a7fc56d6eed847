"""Patients in the audit of reads are pseudonyms, never CPR numbers (pure).

A patient's pseudonym is the HMAC-SHA256 of the CPR number (its ten digits, a hyphen after the birth date or not)
under the hub's pseudonymisation key, in hex. The same patient has the same pseudonym in every entry, so the
audit answers "who read this patient's data" once an administrator gives the CPR number: the hub makes its
pseudonym and looks that up. Without the key a pseudonym names nobody; with it, CPR numbers (a birth date and
four digits) can be tried one by one, so the key is kept apart from the audit where it can be
(``HUB_AUDIT_PSEUDONYM_KEY``).

What a caller searched for is kept with every CPR-shaped number in it replaced by its pseudonym: the whole value
of a parameter that names a patient (``patient``, ``cpr``), and any CPR number inside other text.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping

PATIENT_PARAMETERS = frozenset({"patient", "cpr"})  # a query parameter whose whole value is a patient
PREFIX = "pseudonym:"  # how a pseudonymised value reads in a stored query

# As hub.domain.identifiers finds CPR numbers in text: ten digits standing alone, or DDMMYY-XXXX; a UUID (the hub's
# tracking ids) is kept whole.
_UUID_TEXT = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_CPR_IN_TEXT = re.compile(rf"(?<![0-9A-Fa-f-])({_UUID_TEXT})(?![0-9A-Fa-f-])|(?<!\d)(\d{{6}}-?\d{{4}})(?!\d)")


def normalised_cpr(value: str) -> str:
    """The CPR number as the tracking store keeps it: its digits, without the hyphen after the birth date."""
    return value.strip().replace("-", "")


def pseudonym(key: bytes, cpr: str) -> str:
    """The patient's pseudonym: HMAC-SHA256 of the CPR number (normalised) under ``key``, 64 hex digits."""
    return hmac.new(key, normalised_cpr(cpr).encode(), hashlib.sha256).hexdigest()


def pseudonyms(key: bytes, cprs: Iterable[str | None]) -> list[str]:
    """The pseudonyms of the patients, each once, in the order first met; None (no patient) left out."""
    seen: dict[str, None] = {}
    for cpr in cprs:
        if cpr and cpr.strip():
            seen.setdefault(pseudonym(key, cpr), None)
    return list(seen)


def pseudonymised_text(key: bytes, text: str) -> str:
    """The text with every CPR-shaped number in it replaced by ``pseudonym:<hex>``; UUIDs are kept."""

    def replace(match: re.Match[str]) -> str:
        uuid = match.group(1)
        return uuid if uuid is not None else PREFIX + pseudonym(key, match.group(2))

    return _CPR_IN_TEXT.sub(replace, text)


def pseudonymised_query(key: bytes, query: Mapping[str, str] | None) -> dict[str, str]:
    """The query parameters as the audit keeps them: a patient parameter's value as its pseudonym, whatever it
    looks like; CPR numbers in any other value (and in the names) pseudonymised."""
    kept: dict[str, str] = {}
    for name, value in (query or {}).items():
        if name.lower() in PATIENT_PARAMETERS and value.strip():
            kept[name] = PREFIX + pseudonym(key, value)
        else:
            kept[pseudonymised_text(key, name)] = pseudonymised_text(key, value)
    return kept
