"""Who sends an ADT message, where the stay is, and which municipality it concerns: read from the message.

Real hospital feeds name the sending facility in MSH-4 by a local code, not by a SOR code, put an interface
engine (or the hub) in MSH-6, and give the citizen's address in PID-11. MedCom sends a HospitalNotification to
the citizen's municipality of residence (HospitalNotification clinical guidelines, section 5), so:

- **the sender** (MSH-4) is the organisation whose SOR code is MSH-4.1, else the one that registered MSH-4.2
  (universal id) or MSH-4.1 (namespace id) as an HL7 facility code; the code may name one of its units;
- **the service provider** (Encounter.serviceProvider) is the unit the register knows for the department in
  PV1-3 (point of care PV1-3.1 within facility PV1-3.4), else the unit MSH-4 names, else the sender;
- **the municipality** is the one whose kommunekode PID-11.9 (county/parish code of the home or legal address)
  or PID-12 (county code) carries, else the one the patient register names for the CPR number, else the one
  MSH-6 names when it is a registered municipality. A patient whose address is abroad (PID-11.6) and whom the
  patient register does not know lives in no Danish municipality: MedCom sends no notification.

Pure functions over a `Directory` (the hub's register and patient register, seen through
`connectors.mllp.directory`); nothing here performs I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

from hub.domain.hl7v2 import REQUIRED_FIELD_MISSING, TABLE_VALUE_NOT_FOUND, UNKNOWN_KEY_IDENTIFIER
from hub.domain.message import OrganisationRef
from mappings.hl7v2.parse import Message, Segment

# PID-11.7 address types (HL7 table 0190) that are where a citizen lives, best first; "" is an untyped address
RESIDENCE_ADDRESS_TYPES: Final = ("H", "L", "")
# PID-11.6 country codes that mean Denmark (ISO 3166 alpha-3, alpha-2, numeric)
DENMARK: Final = frozenset({"DNK", "DK", "208"})


@dataclass(frozen=True, slots=True)
class Facility:
    """An organisation of the register, as an HL7 facility code names it: the organisation (MessageHeader.sender)
    and, when the code names one of its units, that unit (a SOR code, perhaps a name)."""

    organisation: OrganisationRef
    unit: OrganisationRef | None = None


@runtime_checkable
class Directory(Protocol):
    """What the mapping may ask the hub's registers. Every method is a lookup; None means "not known"."""

    def organisation(self, sor: str) -> OrganisationRef | None:
        """A registered organisation by SOR code (with its GLN)."""

    def facility(self, namespace_id: str, universal_id: str) -> Facility | None:
        """The organisation an HD (MSH-4, PV1-3.4) names: a SOR code in HD.1 or a registered HL7 facility code."""

    def department(self, organisation_sor: str, point_of_care: str, facility: str) -> OrganisationRef | None:
        """The SOR unit the organisation registered for a department (PV1-3.1 within facility PV1-3.4)."""

    def municipality(self, code: str) -> OrganisationRef | None:
        """The registered municipality with this kommunekode."""

    def municipality_named(self, namespace_id: str, universal_id: str) -> OrganisationRef | None:
        """The registered municipality an HD (MSH-6) names, or None when it names none (or another kind)."""

    def residence(self, cpr: str) -> str | None:
        """The kommunekode of the patient's municipality of residence (the patient register)."""


class SorDirectory:
    """A directory that knows organisations by SOR code only (what the mapping took before HL7 facility codes):
    MSH-4 and MSH-6 must then carry SOR codes, and any organisation it knows may be the receiver."""

    def __init__(self, lookup: Callable[[str], OrganisationRef | None]) -> None:
        self._lookup = lookup

    def organisation(self, sor: str) -> OrganisationRef | None:
        return self._lookup(sor)

    def facility(self, namespace_id: str, universal_id: str) -> Facility | None:
        known = self._lookup(namespace_id) if namespace_id else None
        return Facility(known) if known is not None else None

    def department(self, organisation_sor: str, point_of_care: str, facility: str) -> OrganisationRef | None:
        return None

    def municipality(self, code: str) -> OrganisationRef | None:
        return None

    def municipality_named(self, namespace_id: str, universal_id: str) -> OrganisationRef | None:
        return self._lookup(namespace_id) if namespace_id else None

    def residence(self, cpr: str) -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class Finding:
    """Why an address could not be decided: where, what, and the HL7 error condition (table 0357)."""

    location: str
    text: str
    code: str


@dataclass(frozen=True, slots=True)
class Residence:
    """The municipality a notification goes to, and what in the message (or the registers) said so."""

    municipality: OrganisationRef
    basis: str  # "PID-11.9", "PID-12", "patient register", "MSH-6"


@dataclass(frozen=True, slots=True)
class Abroad:
    """The patient lives in no Danish municipality: no notification (why, for the acknowledgement)."""

    reason: str


def _hd(segment: Segment, number: int) -> tuple[str, str]:
    """(namespace id, universal id) of an HD field (MSH-4, MSH-6)."""
    return segment.value(number, 1), segment.value(number, 2)


def _described(namespace_id: str, universal_id: str) -> str:
    return "^".join(part for part in (namespace_id[:40], universal_id[:64]) if part) or "(none)"


def sending_facility(msh: Segment, directory: Directory) -> Facility | Finding:
    """The registered organisation MSH-4 names (see the module docstring)."""
    namespace_id, universal_id = _hd(msh, 4)
    if not (namespace_id or universal_id):
        return Finding(
            "MSH-4",
            "no sending facility; expected the SOR code or a registered HL7 facility code of the hospital in MSH-4",
            REQUIRED_FIELD_MISSING,
        )
    found = directory.facility(namespace_id, universal_id)
    if found is None:
        return Finding(
            "MSH-4",
            f"sending facility {_described(namespace_id, universal_id)!r} is not an organisation the hub knows;"
            " expected the SOR code of a registered hospital, or an HL7 facility code its register entry lists",
            UNKNOWN_KEY_IDENTIFIER,
        )
    return found


def service_provider(pv1: Segment | None, sender: Facility, directory: Directory) -> OrganisationRef:
    """Encounter.serviceProvider: the department of PV1-3 where the register knows it, else MSH-4's unit, else the
    sending organisation."""
    if pv1 is not None:
        point_of_care, facility = pv1.value(3, 1), pv1.value(3, 4)
        if (point_of_care or facility) and sender.organisation.sor:
            unit = directory.department(sender.organisation.sor, point_of_care, facility)
            if unit is not None:
                return unit
    return sender.unit or sender.organisation


def _residence_addresses(pid: Segment) -> list[list[list[str]]]:
    """PID-11's repetitions that are where the patient lives: home, legal, then untyped addresses."""
    addresses = pid.repetitions(11)

    def kind(address: list[list[str]]) -> str:
        return address[6][0].strip().upper() if len(address) > 6 and address[6] else ""

    return [a for wanted in RESIDENCE_ADDRESS_TYPES for a in addresses if kind(a) == wanted]


def _component(address: list[list[str]], number: int) -> str:
    return address[number - 1][0].strip() if len(address) >= number and address[number - 1] else ""


def _is_kommunekode(value: str) -> bool:
    return 1 <= len(value) <= 4 and value.isascii() and value.isdigit()


def municipality_of_residence(
    message: Message, pid: Segment | None, cpr: str, directory: Directory
) -> Residence | Abroad | Finding:
    """The citizen's municipality of residence, from the message's own data first (see the module docstring)."""
    addresses = _residence_addresses(pid) if pid is not None else []
    coded: list[tuple[str, str]] = [("PID-11.9", _component(a, 9)) for a in addresses if _component(a, 9)]
    if pid is not None and pid.value(12):
        coded.append(("PID-12", pid.value(12)))
    for location, code in coded:
        if not _is_kommunekode(code):
            continue  # e.g. a region's name; the next source may still say
        municipality = directory.municipality(code)
        if municipality is None:
            return Finding(
                location,
                f"the patient lives in municipality {code} (kommunekode), which is not in the hub's register;"
                " MedCom sends a HospitalNotification to the municipality of residence only",
                UNKNOWN_KEY_IDENTIFIER,
            )
        return Residence(municipality, location)
    registered = directory.residence(cpr)
    if registered is not None:
        municipality = directory.municipality(registered)
        if municipality is None:
            return Finding(
                "PID-3",
                f"the patient register places the patient in municipality {registered}, which is not in the hub's"
                " register; MedCom sends a HospitalNotification to the municipality of residence only",
                UNKNOWN_KEY_IDENTIFIER,
            )
        return Residence(municipality, "patient register")
    countries = {_component(a, 6).upper() for a in addresses} - {""}
    if countries and not countries & DENMARK:
        return Abroad(
            f"the patient's address is abroad (PID-11.6 {sorted(countries)[0][:10]}) and the patient register does"
            " not know the patient: MedCom sends HospitalNotifications for citizens with a home address in Denmark"
            " (HospitalNotification clinical guidelines, section 5)"
        )
    namespace_id, universal_id = _hd(message.msh, 6)
    named = directory.municipality_named(namespace_id, universal_id) if namespace_id or universal_id else None
    if named is not None:
        return Residence(named, "MSH-6")
    if coded:
        location, code = coded[0]
        return Finding(
            location,
            f"{code[:20]!r} is not a kommunekode (1-4 digits) of the patient's municipality",
            TABLE_VALUE_NOT_FOUND,
        )
    return Finding(
        "PID-11.9",
        "the municipality of residence cannot be found: PID-11.9 (county/parish code of the home address) and"
        " PID-12 carry no kommunekode, the patient register does not know the patient, and MSH-6"
        f" ({_described(namespace_id, universal_id)}) names no registered municipality",
        REQUIRED_FIELD_MISSING,
    )
