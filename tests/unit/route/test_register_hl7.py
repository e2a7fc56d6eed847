"""The register's HL7 v2 identifiers: facility codes (MSH-4, PV1-3.4), departments (PV1-3.1) with their SOR units,
and municipalities by kommunekode; what a faulty entry is refused for."""

from __future__ import annotations

from typing import Any

import pytest

from hub.route.register import RegisterError
from tests.unit.route.registers import organisation, small_register

HOSPITAL_HL7: list[dict[str, Any]] = [
    {"namespace_id": "SYD"},
    {"universal_id": "1.2.208.176.1.1.500000000000001"},
    {"namespace_id": "SYD", "point_of_care": "MED2", "unit_sor": "500000000000002", "unit_name": "Medicinsk"},
    {"namespace_id": "SYD-AKM", "unit_sor": "500000000000003"},
]


def _register() -> Any:
    return small_register(
        organisation("sygehus-syd", "500000000000001", "hospital", hl7=HOSPITAL_HL7),
        organisation("kommune-c", "200000000000003", municipality_code="0147", hl7=[{"namespace_id": "FRB"}]),
    )


def test_a_facility_is_found_by_sor_code_universal_id_or_namespace_id() -> None:
    register = _register()
    by_sor = register.by_hl7_facility("500000000000001")
    assert by_sor is not None and by_sor[0].id == "sygehus-syd" and by_sor[1] is None
    by_oid = register.by_hl7_facility("", "1.2.208.176.1.1.500000000000001")
    assert by_oid is not None and by_oid[0].id == "sygehus-syd"
    by_code = register.by_hl7_facility("SYD")
    assert by_code is not None and by_code[0].id == "sygehus-syd" and by_code[1] is not None
    department = register.by_hl7_facility("SYD-AKM")
    assert department is not None and department[1] is not None and department[1].unit is not None
    assert department[1].unit.sor == "500000000000003"
    # a point of care names a department within a facility, not a facility
    assert register.by_hl7_facility("MED2") is None
    assert register.by_hl7_facility("UNKNOWN", "1.2.3") is None
    assert register.by_hl7_facility("") is None


def test_municipalities_are_found_by_kommunekode_with_or_without_the_leading_zero() -> None:
    register = _register()
    found = [register.by_municipality_code(code) for code in ("147", "0147", " 147")]
    assert [o.id if o else None for o in found] == ["kommune-c"] * 3
    assert register.by_municipality_code("999") is None
    assert register.by_municipality_code("Frederiksberg") is None


@pytest.mark.parametrize(
    ("hl7", "message"),
    [
        ([{}], "needs a namespace_id, a universal_id or a point_of_care"),
        ([{"namespace_id": "X", "unit_name": "Afsnit"}], "give unit_sor too"),
        ([{"universal_id": "1.2.3", "point_of_care": "A"}], "qualified by its facility's namespace_id only"),
        ([{"namespace_id": "X", "unit_sor": "12ab"}], "SOR code '12ab'"),
        ([{"namespace_id": ""}], "at least 1 character"),
        ([{"namespace_id": "X", "colour": "blue"}], "colour"),
    ],
)
def test_faulty_hl7_identifiers_are_refused_with_the_reason(hl7: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(RegisterError) as caught:
        small_register(organisation("odd-one", "400000000000001", "hospital", hl7=hl7))
    assert message in str(caught.value)


def test_two_organisations_cannot_send_as_the_same_facility() -> None:
    def hospital(org_id: str, sor: str, **identifier: str) -> dict[str, Any]:
        return organisation(org_id, sor, "hospital", hl7=[identifier])

    twice = "two organisations \\(sygehus-syd, sygehus-nord\\) send as HL7 facility 'SYD'"
    with pytest.raises(RegisterError, match=twice):
        small_register(
            hospital("sygehus-syd", "500000000000001", namespace_id="SYD"),
            hospital("sygehus-nord", "600000000000001", namespace_id="SYD"),
        )
    # a department code may repeat: it is read within its own organisation
    small_register(
        hospital("sygehus-syd", "500000000000001", namespace_id="SYD", point_of_care="MED"),
        hospital("sygehus-nord", "600000000000001", namespace_id="NORD", point_of_care="MED"),
    )
