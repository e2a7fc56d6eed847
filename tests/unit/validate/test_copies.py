"""MedCom's rules for copies through the whole validator: those other layers enforce, and hub.validate.copies's."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.domain import medcom
from hub.domain.outcome import Issue
from hub.messages import builder
from hub.validate import Validator
from hub.validate.copies import CC_REFUSED_ELSEWHERE, NO_CC_PROFILES, check_copies

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT.parent / "shared" / "medcom" / "examples"
SAMPLES = ROOT / "schemas" / "samples"
HN = EXAMPLES / "hospitalnotification" / "Bundle-a5e5b880-8a17-43ef-813f-a9e96d5d5ba7.json"
CARE = EXAMPLES / "carecommunication" / "Bundle-add5e7e2-0c0f-4a4a-bfff-f6f984fa7e3c.json"
ACK = EXAMPLES / "acknowledgement" / "Bundle-a8c041b8-c65a-4fde-a90f-962076918834.json"
EMPTY = EXAMPLES / "messaging" / "Bundle-eb26be85-fdb7-454d-a980-95cba6d1745b.json"
HEADER = "Bundle.entry[0].resource"
VALIDATOR = Validator()
NOW = datetime(2025, 3, 4, 10, 30, tzinfo=UTC)


def _load(path: Path) -> dict[str, Any]:
    found = sorted(path.parent.glob(path.name[:15] + "*.json")) if not path.exists() else [path]
    message: dict[str, Any] = orjson.loads(found[0].read_bytes())
    return message


def _errors(message: dict[str, Any]) -> list[Issue]:
    return [issue for issue in VALIDATOR.validate(orjson.dumps(message)).issues if issue.is_error]


def _with_cc(message: dict[str, Any]) -> dict[str, Any]:
    header = message["entry"][0]["resource"]
    cc = copy.deepcopy(header["destination"][0])
    cc["extension"][0]["valueCoding"]["code"] = "cc"
    header["destination"].append(cc)
    return message


def _provenance_index(message: dict[str, Any]) -> int:
    return next(i for i, e in enumerate(message["entry"]) if e["resource"]["resourceType"] == "Provenance")


def _as_copy_activity(message: dict[str, Any]) -> tuple[dict[str, Any], int]:
    i = _provenance_index(message)
    message["entry"][i]["resource"]["activity"]["coding"][0]["code"] = medcom.CARBON_COPY_ACTIVITY
    return message, i


def _copy(name: str = "discharge-letter") -> dict[str, Any]:
    original: dict[str, Any] = orjson.loads((SAMPLES / f"{name}.json").read_bytes())
    return builder.carbon_copy(original, new_id=builder.seeded_ids(random.Random(3)), now=NOW)


# --- cc destinations where the profile has none (destination:cc 0..0) ---------------------------------------


def test_the_table_of_kinds_without_cc_is_the_compiled_profiles() -> None:
    forbidding = set()
    for event, profiles in VALIDATOR.rules.events.items():
        root = VALIDATOR.rules.profiles[profiles["header"]].root
        destination = next(c for c in root.children if c.id == "MessageHeader.destination")
        if next(s for s in destination.slices if s.id.endswith(":cc")).max == 0:
            forbidding.add(event)
    assert forbidding == set(NO_CC_PROFILES)


def test_a_care_communication_with_a_cc_destination_is_refused_here() -> None:
    (issue,) = _errors(_with_cc(_load(CARE)))
    assert (issue.code, issue.expression) == ("invalid", f"{HEADER}.destination[1]")
    assert "destination:cc 0..0" in issue.diagnostics and "forward-message" in issue.diagnostics
    assert issue.line is not None  # located in the text, like every issue


def test_a_hospital_notification_with_a_cc_destination_is_refused_by_its_invariant() -> None:
    assert medcom.HOSPITAL_NOTIFICATION_EVENT in CC_REFUSED_ELSEWHERE
    (issue,) = _errors(_with_cc(_load(HN)))
    assert (issue.code, issue.expression) == ("invariant", "Bundle")
    assert issue.diagnostics.startswith("medcom-hospitalNotification-5")


def test_an_acknowledgement_with_a_cc_destination_is_refused_by_the_messaging_rules() -> None:
    assert medcom.ACKNOWLEDGEMENT_EVENT in CC_REFUSED_ELSEWHERE
    (issue,) = _errors(_with_cc(_load(ACK)))
    assert (issue.code, issue.expression) == ("invalid", f"{HEADER}.destination[1]")
    assert "no cc destinations" in issue.diagnostics


def test_a_generic_message_and_the_hubs_own_may_have_cc_destinations() -> None:
    assert _errors(_with_cc(_load(EMPTY))) == []
    assert _errors(orjson.loads((SAMPLES / "discharge-letter.json").read_bytes())) == []


# --- carboncopy-message where there are no cc receivers ------------------------------------------------------


@pytest.mark.parametrize("path", [HN, CARE, ACK], ids=["hospital-notification", "care-communication", "ack"])
def test_a_carbon_copy_of_a_kind_without_cc_is_refused_at_its_activity(path: Path) -> None:
    message, i = _as_copy_activity(_load(path))
    # the copies layer's own finding; a profile's invariant on the activity codes may say so too (at Bundle)
    (issue,) = [e for e in _errors(message) if e.expression != "Bundle"]
    assert (issue.code, issue.expression) == ("code-invalid", f"Bundle.entry[{i}].resource.activity")
    assert "carboncopy-message" in issue.diagnostics and "no cc receivers" in issue.diagnostics


# --- a carbon copy: a cc receiver, the original named ---------------------------------------------------------


@pytest.mark.parametrize("name", ["discharge-letter", "medication-update"])
def test_the_samples_copies_are_valid(name: str) -> None:
    assert _errors(orjson.loads((SAMPLES / f"{name}-cc.json").read_bytes())) == []
    assert _errors(_copy(name)) == []


def test_a_carbon_copy_without_a_cc_destination() -> None:
    message = _copy()
    del message["entry"][0]["resource"]["destination"][1]
    (issue,) = _errors(message)
    assert (issue.code, issue.expression) == ("required", f"{HEADER}.destination")
    assert "names no cc receiver" in issue.diagnostics


def test_a_carbon_copy_that_does_not_name_the_original() -> None:
    message = _copy()
    where = len(message["entry"]) - 1
    del message["entry"][where]["resource"]["entity"]
    (issue,) = _errors(message)
    assert (issue.code, issue.expression) == ("required", f"Bundle.entry[{where}].resource.entity")


def test_a_carbon_copy_that_names_itself_as_the_original() -> None:
    message = _copy()
    where = len(message["entry"]) - 1
    message["entry"][where]["resource"]["entity"][0]["what"]["reference"] = (
        f"MessageHeader/{message['entry'][0]['resource']['id']}"
    )
    (issue,) = _errors(message)
    assert (issue.code, issue.expression) == ("invalid", f"Bundle.entry[{where}].resource.entity[0].what.reference")
    assert "MessageHeader.id of its own" in issue.diagnostics


def test_a_carboncopy_provenance_of_an_earlier_message_is_history() -> None:
    # a reply to a copy carries the copy's Provenance on its stack: it targets the copy, not this message
    message = _copy()
    message["entry"][0]["resource"]["id"] = "a-later-message"
    assert check_copies(message) == []


@pytest.mark.parametrize(
    "bundle",
    [{}, {"entry": "x"}, {"entry": [{"resource": {"resourceType": "MessageHeader", "destination": "x"}}, 5]}],
)
def test_odd_shapes_are_left_to_the_structure_layer(bundle: dict[str, Any]) -> None:
    assert check_copies(bundle) == []
