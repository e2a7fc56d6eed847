"""The register and patient register as the ADT mapping asks them (connectors.mllp.directory)."""

from __future__ import annotations

from connectors.mllp.directory import RegisterDirectory
from hub.route.patients import PatientEntry, PatientRegister
from tests.unit.route.registers import organisation, small_register

CPR = "0703594417"
REGISTER = small_register(
    organisation(
        "sygehus-syd",
        "500000000000001",
        "hospital",
        hl7=[
            {"namespace_id": "SYD"},
            {"namespace_id": "SYD", "point_of_care": "MED2", "unit_sor": "500000000000002", "unit_name": "Medicinsk"},
            {"point_of_care": "AKM", "unit_sor": "500000000000004"},
            {"namespace_id": "SYD-AMB", "unit_sor": "500000000000003"},
        ],
    ),
    organisation("kommune-c", "200000000000003", municipality_code="147", hl7=[{"namespace_id": "FRB"}]),
)
DIRECTORY = RegisterDirectory(REGISTER, PatientRegister([PatientEntry(CPR, municipality_code="147")]))


def test_a_facility_code_names_the_organisation_and_the_unit_it_stands_for() -> None:
    facility = DIRECTORY.facility("SYD-AMB", "")
    assert facility is not None
    assert facility.organisation.sor == "500000000000001"
    assert facility.unit is not None and facility.unit.sor == "500000000000003"
    plain = DIRECTORY.facility("SYD", "")
    assert plain is not None and plain.unit is None
    assert DIRECTORY.facility("NORD", "") is None


def test_a_department_is_found_by_point_of_care_within_its_facility() -> None:
    assert DIRECTORY.department("500000000000001", "MED2", "SYD") is not None
    assert DIRECTORY.department("500000000000001", "MED2", "") is None  # that code is SYD's
    akm = DIRECTORY.department("500000000000001", "AKM", "ANY")  # a code without a facility, anywhere
    assert akm is not None and akm.sor == "500000000000004"
    unit = DIRECTORY.department("500000000000001", "", "SYD-AMB")  # PV1-3.4 a department facility code
    assert unit is not None and unit.sor == "500000000000003"
    assert DIRECTORY.department("500000000000001", "XX", "SYD") is None
    assert DIRECTORY.department("200000000000003", "MED2", "SYD") is None  # another organisation's


def test_municipalities_by_code_by_name_and_residence_by_cpr() -> None:
    municipality = DIRECTORY.municipality("0147")
    assert municipality is not None and municipality.sor == "200000000000003"
    named = DIRECTORY.municipality_named("FRB", "")
    assert named is not None and named.sor == "200000000000003"
    assert DIRECTORY.municipality_named("SYD", "") is None  # a hospital is no municipality
    assert DIRECTORY.municipality_named("200000000000001", "") is not None  # by SOR code
    assert DIRECTORY.residence(CPR) == "147"
    assert DIRECTORY.residence("2811804562") is None
