"""``hub validate FILE...``: one JSON line per file, exit 0 only when every file is valid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]


def run_validate(*files: Path | str) -> tuple[int, list[dict[str, Any]]]:
    done = subprocess.run(
        [sys.executable, "-m", "hub", "validate", *map(str, files)], cwd=ROOT, capture_output=True, timeout=120
    )
    return done.returncode, [orjson.loads(line) for line in done.stdout.splitlines()]


def test_valid_examples_exit_zero(example_paths: list[Path]) -> None:
    code, lines = run_validate(*example_paths)
    assert code == 0, [line for line in lines if not line["valid"]]
    assert [line["path"] for line in lines] == [str(p) for p in example_paths]
    assert {line["event"] for line in lines} == {
        "hospital-notification-message",
        "care-communication-message",
        "acknowledgement-message",
        "empty-message",
    }
    assert all(
        line["issues"] == [] or all(i["severity"] not in ("error", "fatal") for i in line["issues"]) for line in lines
    )


def test_one_bad_file_makes_exit_one_and_names_the_fault(example_paths: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    original = orjson.loads(example_paths[0].read_bytes())
    original["type"] = "document"
    raw = orjson.dumps(original, option=orjson.OPT_INDENT_2)
    bad.write_bytes(raw)
    missing = tmp_path / "missing.json"
    code, lines = run_validate(example_paths[0], bad, missing)
    assert code == 1
    assert [line["valid"] for line in lines] == [True, False, False]
    issues = lines[1]["issues"]
    assert isinstance(issues, list)
    [fault] = [i for i in issues if i["expression"] == "Bundle.type" and i["severity"] == "error"]
    assert set(fault) == {"severity", "code", "expression", "diagnostics", "line", "column"}
    text = raw.decode()
    at = text.index('"type"')  # where the fault is in the file, counted here
    assert (fault["line"], fault["column"]) == (text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at))
    assert "cannot read" in str(lines[2]["issues"])


# --- any FHIR R4 resource: --core, --profile URL, --list-profiles ----------------------------------------------

SHARED = ROOT.parent / "shared"
R4_ORGANIZATION = SHARED / "fhir-test-cases" / "r4-examples" / "Organization-hl7.json"
DANISH = SHARED / "fhir-test-cases" / "messages" / "bundle-message-dk.json"
HL7_BAD_DATE = SHARED / "fhir-test-cases" / "validator-r4" / "files" / "ai4.json"
NOTIFICATION = (
    SHARED / "medcom" / "examples" / "hospitalnotification" / "Bundle-a5e5b880-c087-4055-b9ec-99108695f81d.json"
)
CORE_PATIENT = "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-patient"
R4_CORE = "http://hl7.org/fhir/StructureDefinition/"


def run_hub(*argv: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "hub", "validate", *argv], cwd=ROOT, capture_output=True, timeout=120)


def test_help_documents_the_three_modes() -> None:
    done = run_hub("--help")
    assert done.returncode == 0
    text = done.stdout.decode()
    for option in ("--profile URL", "--core", "--list-profiles", "MedCom message"):
        assert option in text, option


def test_list_profiles_and_an_unknown_profile() -> None:
    listed = run_hub("--list-profiles")
    assert listed.returncode == 0
    lines = listed.stdout.decode().splitlines()
    assert any(line.split() == [CORE_PATIENT, "Patient", "MedCom"] for line in lines)
    assert any(line.split()[:2] == [R4_CORE + "Organization", "Organization"] for line in lines)
    unknown = run_hub("--profile", "http://example.org/StructureDefinition/nothing", str(R4_ORGANIZATION))
    assert unknown.returncode == 2
    assert unknown.stdout == b""
    assert b"unknown profile 'http://example.org/StructureDefinition/nothing'" in unknown.stderr
    assert b"hub validate --list-profiles" in unknown.stderr
    assert run_hub().returncode == 2  # no file


def test_core_checks_any_resource_against_r4_structure_only(tmp_path: Path) -> None:
    done = run_hub("--core", str(R4_ORGANIZATION), str(DANISH), str(NOTIFICATION), str(HL7_BAD_DATE))
    assert done.returncode == 1
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [line["valid"] for line in lines] == [True, True, True, False]
    assert [line["profile"] for line in lines] == [
        R4_CORE + "Organization",
        *[R4_CORE + "Bundle"] * 2,
        R4_CORE + "Patient",
    ]
    assert lines[2]["event"] == "hospital-notification-message"
    [fault] = [i for i in lines[3]["issues"] if i["severity"] == "error"]
    assert (fault["expression"], fault["code"]) == ("Patient.birthDate", "value")
    assert set(fault) == {"severity", "code", "expression", "diagnostics", "line", "column"}
    # the same Danish message is no MedCom message: the default validation rejects it for MedCom's rules
    code, default = run_validate(DANISH)
    assert code == 1
    assert any(i["expression"] == "Bundle.entry[0].resource.eventCoding.code" for i in default[0]["issues"])
    assert "profile" not in default[0]


def test_profile_checks_a_patient_against_a_medcom_profile(tmp_path: Path) -> None:
    bundle = orjson.loads(NOTIFICATION.read_bytes())
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    good, bad = tmp_path / "patient.json", tmp_path / "no-identifier.json"
    good.write_bytes(orjson.dumps(patient, option=orjson.OPT_INDENT_2))
    bad.write_bytes(orjson.dumps({k: v for k, v in patient.items() if k != "identifier"}, option=orjson.OPT_INDENT_2))
    done = run_hub("--profile", CORE_PATIENT + "|3.0.0", str(good), str(bad), str(R4_ORGANIZATION))
    assert done.returncode == 1, done.stderr
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [line["valid"] for line in lines] == [True, False, False]
    assert {line["profile"] for line in lines} == {CORE_PATIENT}
    assert [(i["expression"], i["code"]) for i in lines[1]["issues"]] == [("Patient.identifier", "required")]
    assert "is for Patient resources" in lines[2]["issues"][0]["diagnostics"]
