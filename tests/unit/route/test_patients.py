"""The patient register: CPR -> municipality of residence and GP practice; YAML, JSON and CSV files."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from hub.route.patients import (
    PatientEntry,
    PatientRegister,
    PatientRegisterError,
    generate_patient_register,
    load_patient_register,
    write_patient_register,
)
from hub.route.register import parse_register
from tests.unit.route.registers import organisation, small_register

REGISTER = small_register(
    organisation("gp-a", "300000000000002", "gp"),
    organisation("gp-b", "300000000000003", "gp"),
    organisation("kommune-kbh", "200000000000003", municipality_code="101"),
    organisation("kommune-aarhus", "200000000000004", municipality_code="0751"),
)
ENTRIES = [
    PatientEntry("0101701234", municipality_code="101", gp="gp-a"),
    PatientEntry("0202802345", municipality_code="751", gp=None),
    PatientEntry("0303903456", municipality_code=None, gp="gp-b"),
]


@pytest.mark.parametrize("suffix", [".yaml", ".json", ".csv"])
def test_write_then_load_in_every_format(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"patients{suffix}"
    write_patient_register(path, ENTRIES)
    patients = load_patient_register(path, register=REGISTER)
    assert list(patients) == ENTRIES
    assert patients.municipality_of("0101701234") == "101"
    assert patients.gp_of("0101701234") == "gp-a"
    assert patients.gp_of("0202802345") is None


def test_plain_yaml_list_and_lost_leading_zeros(tmp_path: Path) -> None:
    path = tmp_path / "patients.yml"
    path.write_text(
        "- {cpr: 101701234, municipality_code: 101, gp: gp-a}\n- {cpr: '0202802345', municipality_code: 80}\n"
    )
    patients = load_patient_register(path)
    assert patients.get("0101701234") == PatientEntry("0101701234", "101", "gp-a")
    assert patients.municipality_of("0202802345") == "080"


def test_unknown_patient_and_no_patient() -> None:
    patients = PatientRegister(ENTRIES)
    assert len(patients) == 3
    assert patients.get("1111111111") is None
    assert patients.municipality_of(None) is None and patients.gp_of("1111111111") is None
    assert len(PatientRegister.empty()) == 0


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ("- {cpr: '3202801234'}", "cpr: a CPR number starts with DDMMYY"),
        ("- {municipality_code: '101'}", "cpr is missing"),
        ("- {cpr: '0101701234'}\n- {cpr: '0101701234'}", "patient 2: the same CPR number is listed twice"),
        ("- {cpr: '0101701234', gp: gp-z}", "gp 'gp-z' is not in the endpoint register"),
        ("- {cpr: '0101701234', gp: kommune-a}", "gp 'kommune-a' is a municipality, not a GP practice"),
        ("- {cpr: '0101701234', municipality_code: '10x1'}", "is not a kommunekode"),
        ("- {cpr: '0101701234', doctor: gp-a}", "unknown field(s) doctor"),
        ("- [1, 2]", "expected an object"),
        ("patients: {cpr: '0101701234'}", "expected a list of patients"),
        ("- {cpr: [1]}", "expected text"),
    ],
)
def test_faults_name_the_file_and_entry_but_never_the_cpr(tmp_path: Path, rows: str, problem: str) -> None:
    path = tmp_path / "patients.yaml"
    path.write_text(rows)
    with pytest.raises(PatientRegisterError) as raised:
        load_patient_register(path, register=REGISTER)
    assert problem in str(raised.value)
    assert str(path) in str(raised.value)
    assert "0101701234" not in str(raised.value) and "3202801234" not in str(raised.value)


def test_unreadable_or_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(PatientRegisterError, match="cannot read"):
        load_patient_register(tmp_path / "missing.yaml")
    bad = tmp_path / "patients.json"
    bad.write_text("{not json")
    with pytest.raises(PatientRegisterError, match="cannot be parsed"):
        load_patient_register(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert len(load_patient_register(empty)) == 0


def test_generate_assigns_a_registered_municipality_and_gp_deterministically() -> None:
    cprs = [f"{day:02d}0170{n:04d}" for day in range(1, 29) for n in range(3)]
    first = generate_patient_register(REGISTER, cprs, random.Random(7))
    again = generate_patient_register(REGISTER, cprs, random.Random(7))
    assert first == again
    assert [e.cpr for e in first] == cprs
    assert {e.municipality_code for e in first} == {"101", "751"}
    assert {e.gp for e in first} == {"gp-a", "gp-b", "gp-only-acks"}  # every GP practice of the register
    PatientRegister(first)  # usable as is


def test_generate_without_gps_or_municipality_codes() -> None:
    hospital_only = parse_register(
        {"hub": {"name": "hub", "sor": "900000000000001"}, "organisations": [organisation("h", "1", "hospital")]},
        source="test",
    )
    [entry] = generate_patient_register(hospital_only, ["0101701234"], random.Random(1))
    assert entry == PatientEntry("0101701234", None, None)
