"""Validator.validate never raises: values its checks did not foresee are faults of the message like any other,
and a fault of the validator itself rejects that one message with an `exception` issue naming no content."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

import hub.validate.validator as validator_module
from hub.validate.pool import InProcess, ValidationPool
from hub.validate.validator import Validator

ROOT = Path(__file__).resolve().parents[3]
CPR = "0101011234"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


def hospital_notification(example_paths: list[Path]) -> dict[str, Any]:
    path = next(p for p in example_paths if "f4aa42a4" in p.name)  # a hospital notification with a period end
    found: dict[str, Any] = orjson.loads(path.read_bytes())
    return found


def encounter(bundle: dict[str, Any]) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")


@pytest.mark.parametrize("timestamp", ["T", "2026T", "TT", "2026-01-01T", "-T", "2026-01-01T1"])
def test_a_timestamp_that_is_barely_a_date_and_time_is_a_value_fault(
    validator: Validator, example_paths: list[Path], timestamp: str
) -> None:
    bundle = hospital_notification(example_paths)
    bundle["timestamp"] = timestamp
    verdict = validator.validate(orjson.dumps(bundle))
    assert not verdict.valid
    issue = next(i for i in verdict.issues if i.expression == "Bundle.timestamp")
    assert issue.code == "value"
    assert "not a valid FHIR instant" in issue.diagnostics
    assert "timezone" not in issue.diagnostics.split("(")[0]  # not called a time that lacks only its zone


def test_a_time_without_its_zone_is_still_named_so(validator: Validator, example_paths: list[Path]) -> None:
    bundle = hospital_notification(example_paths)
    bundle["timestamp"] = "2024-05-01T12:00:00"
    issue = next(i for i in validator.validate(orjson.dumps(bundle)).issues if i.expression == "Bundle.timestamp")
    assert "a time needs a timezone" in issue.diagnostics


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("0001-01-01T00:00:00+14:00", "2022-12-18T09:45:30+02:00"),  # before year 1 in UTC
        ("2022-12-07T12:00:00+02:00", "9999-12-31T23:59:59-14:00"),  # after 9999 in UTC
    ],
)
def test_a_period_at_the_ends_of_the_calendar_does_not_break_the_check_of_its_order(
    validator: Validator, example_paths: list[Path], start: str, end: str
) -> None:
    bundle = hospital_notification(example_paths)
    encounter(bundle)["period"] = {"start": start, "end": end}
    verdict = validator.validate(orjson.dumps(bundle))
    assert all(issue.code != "exception" for issue in verdict.issues)


def test_a_period_whose_end_is_before_its_start_in_utc_is_still_found(
    validator: Validator, example_paths: list[Path]
) -> None:
    bundle = hospital_notification(example_paths)
    encounter(bundle)["period"] = {"start": "0001-01-02T00:00:00+14:00", "end": "0001-01-01T00:00:00+14:00"}
    verdict = validator.validate(orjson.dumps(bundle))
    assert any("per-1" in issue.diagnostics for issue in verdict.issues), verdict.issues


@pytest.mark.parametrize("layer", ["check_resource", "check_messaging", "check_profiles", "read_facts"])
def test_a_layer_that_raises_rejects_the_message_with_an_exception_issue(
    validator: Validator, example_paths: list[Path], monkeypatch: pytest.MonkeyPatch, layer: str
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise KeyError(f"Patient/{CPR}")  # an exception whose text quotes the message

    monkeypatch.setattr(validator_module, layer, broken)
    verdict = validator.validate(orjson.dumps(hospital_notification(example_paths)))
    assert not verdict.valid
    failures = [i for i in verdict.issues if i.code == "exception"]
    assert len(failures) == 1
    assert "(KeyError)" in failures[0].diagnostics and "rejected" in failures[0].diagnostics
    assert all(CPR not in i.diagnostics for i in verdict.issues)


def test_other_layers_still_report_when_one_raises(
    validator: Validator, example_paths: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(validator_module, "check_profiles", broken)
    bundle = hospital_notification(example_paths)
    bundle["type"] = "collection"
    verdict = validator.validate(orjson.dumps(bundle))
    assert {"exception"} < {i.code for i in verdict.issues}
    assert any(i.expression == "Bundle.type" for i in verdict.issues)


def test_the_envelope_raising_rejects_the_message(
    validator: Validator, example_paths: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise MemoryError()

    monkeypatch.setattr(validator_module, "read_envelope", broken)
    verdict = validator.validate(orjson.dumps(hospital_notification(example_paths)))
    assert [i.code for i in verdict.issues] == ["exception"]
    assert verdict.facts is None and verdict.bundle is None


def test_a_check_that_raises_on_one_value_is_an_exception_issue_at_that_element(
    validator: Validator, example_paths: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import hub.validate.rules as rules

    monkeypatch.setattr(rules, "_lacks_timezone", lambda value: [][0])  # raises IndexError for a bad dateTime
    bundle = hospital_notification(example_paths)
    bundle["timestamp"] = "2024-05-01T12:00:00"
    verdict = validator.validate(orjson.dumps(bundle))
    issue = next(i for i in verdict.issues if i.expression == "Bundle.timestamp")
    assert issue.code == "exception" and issue.is_error
    assert "(IndexError)" in issue.diagnostics and "2024-05-01" not in issue.diagnostics
    assert issue.line is not None  # placed in the text like any other issue


def test_positions_that_cannot_be_found_leave_the_issues_without_them(
    validator: Validator, example_paths: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise ValueError("no")

    monkeypatch.setattr(validator_module, "locate", broken)
    bundle = hospital_notification(example_paths)
    bundle["type"] = "collection"
    verdict = validator.validate(orjson.dumps(bundle))
    assert any(i.expression == "Bundle.type" and i.line is None for i in verdict.issues)
    assert all(i.code != "exception" for i in verdict.issues)


class _FailingExecutor:
    def submit(self, *_: Any, **__: Any) -> Any:
        raise TypeError("cannot pickle")


async def test_the_pool_validates_here_a_part_whose_worker_failed_it(
    validator: Validator, example_paths: list[Path]
) -> None:
    pool = ValidationPool(validator, processes=1)
    pool._executor = _FailingExecutor()  # type: ignore[assignment]
    bundle = hospital_notification(example_paths)
    bundle["timestamp"] = "T"
    raws = [orjson.dumps(bundle), example_paths[0].read_bytes()]
    found = await pool.validate_all(raws)
    assert found == await InProcess(validator).validate_all(raws)
    assert [v.valid for v in found] == [False, True]


async def test_in_process_validation_of_a_poison_message_gives_a_verdict(
    validator: Validator, example_paths: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validator_module, "check_messaging", lambda *a, **k: [][0])
    verdicts = await InProcess(validator).validate_all([example_paths[0].read_bytes()] * 2)
    assert [v.valid for v in verdicts] == [False, False]


def test_hub_validate_reports_such_a_file_and_does_not_crash(example_paths: list[Path], tmp_path: Path) -> None:
    files = []
    for timestamp in ("T", "2026T"):
        bundle = hospital_notification(example_paths)
        bundle["timestamp"] = timestamp
        path = tmp_path / f"timestamp-{timestamp}.json"
        path.write_bytes(orjson.dumps(bundle))
        files.append(path)
    done = subprocess.run(
        [sys.executable, "-m", "hub", "validate", *map(str, files)], cwd=ROOT, capture_output=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [line["valid"] for line in lines] == [False, False]
    assert all(any(i["expression"] == "Bundle.timestamp" for i in line["issues"]) for line in lines)
