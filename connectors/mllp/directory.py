"""The HL7 v2 mapping's view of the hub's registers: organisations, their HL7 facility and department codes, the
municipalities by kommunekode, and the patient register (mappings.hl7v2.addressing.Directory).

Lookups only; what they mean for a message is decided in `mappings.hl7v2.addressing`.
"""

from __future__ import annotations

from hub.domain.message import OrganisationRef
from hub.route.patients import PatientRegister
from hub.route.register import OrganisationKind, Register
from mappings.hl7v2.addressing import Facility


class RegisterDirectory:
    """`register` and `patients` as the ADT mapping asks them."""

    def __init__(self, register: Register, patients: PatientRegister | None = None) -> None:
        self._register = register
        self._patients = patients or PatientRegister()

    def organisation(self, sor: str) -> OrganisationRef | None:
        found = self._register.by_sor(sor)
        return found.ref if found is not None else None

    def facility(self, namespace_id: str, universal_id: str) -> Facility | None:
        found = self._register.by_hl7_facility(namespace_id, universal_id)
        if found is None:
            return None
        organisation, identifier = found
        return Facility(organisation.ref, identifier.unit if identifier is not None else None)

    def department(self, organisation_sor: str, point_of_care: str, facility: str) -> OrganisationRef | None:
        """The unit of the first of the organisation's HL7 identifiers that names the department (PV1-3.1 within
        PV1-3.4, when the identifier names a facility), else the unit of the facility PV1-3.4 names."""
        organisation = self._register.by_sor(organisation_sor)
        if organisation is None:
            return None
        for identifier in organisation.hl7:
            if (
                identifier.point_of_care
                and identifier.point_of_care == point_of_care
                and identifier.namespace_id in (None, facility)
                and identifier.unit is not None
            ):
                return identifier.unit
        if facility:
            found = self._register.by_hl7_facility(facility)
            if found is not None and found[0].sor == organisation_sor and found[1] is not None:
                return found[1].unit
        return None

    def municipality(self, code: str) -> OrganisationRef | None:
        found = self._register.by_municipality_code(code)
        return found.ref if found is not None else None

    def municipality_named(self, namespace_id: str, universal_id: str) -> OrganisationRef | None:
        found = self._register.by_hl7_facility(namespace_id, universal_id)
        if found is None or found[0].kind is not OrganisationKind.MUNICIPALITY:
            return None
        return found[0].ref

    def residence(self, cpr: str) -> str | None:
        return self._patients.municipality_of(cpr)
