"""What the ingress worker does with a message, decided without I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.broker.records import IngressRecord
from hub.domain.message import read_facts
from hub.domain.tracking import Step
from hub.pipeline.plan import plan
from hub.route.register import Register, parse_register
from hub.validate.validator import Validator

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HOSPITAL_SOR, MUNICIPALITY_SOR = "265161000016000", "953741000016009"


@pytest.fixture(scope="module")
def register() -> Register:
    def org(org_id: str, sor: str, accepts: list[str]) -> dict[str, Any]:
        return {
            "id": org_id,
            "name": org_id,
            "kind": "municipality",
            "sor": sor,
            "endpoint": {"kind": "mailbox"},
            "accepts": accepts,
        }

    return parse_register(
        {
            "hub": {"name": "hub", "sor": "881531000016009"},
            "organisations": [
                org("hospital", HOSPITAL_SOR, ["acknowledgement-message"]),
                org("municipality", MUNICIPALITY_SOR, ["hospital-notification-message", "acknowledgement-message"]),
            ],
        },
        source="test",
    )


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


def example(paths: list[Path], fragment: str) -> bytes:
    return next(p for p in paths if fragment in p.name).read_bytes()


def incoming(raw: bytes, sender_sor: str = HOSPITAL_SOR) -> IngressRecord:
    return IngressRecord(
        tracking_id="t-1", sender_sor=sender_sor, received_at=NOW.isoformat(), connector="http", raw=raw
    )


def test_valid_message_is_routed_with_its_original_bytes(
    example_paths: list[Path], register: Register, validator: Validator
) -> None:
    raw = example(example_paths, "a5e5b880")
    result = plan(incoming(raw), validator.validate(raw), register, now=NOW)
    assert [e.step for e in result.events] == [Step.RECEIVED, Step.ROUTED]
    (delivery,) = result.outbox
    assert delivery.receiver_id == "municipality"
    assert delivery.raw is raw  # forwarded, never re-serialised
    assert delivery.patient_key == "2509479989"
    assert result.events[0].patient == "2509479989"
    assert result.events[1].detail["receivers"][0]["use"] == "primary"


def test_invalid_message_is_rejected_and_answered_with_fatal_error(
    example_paths: list[Path], register: Register, validator: Validator
) -> None:
    bundle = orjson.loads(example(example_paths, "a5e5b880"))
    bundle["type"] = "batch"
    raw = orjson.dumps(bundle)
    result = plan(incoming(raw), validator.validate(raw), register, now=NOW)
    steps = [e.step for e in result.events]
    assert steps[:2] == [Step.RECEIVED, Step.REJECTED]
    assert any(i.get("expression") == ["Bundle.type"] for i in result.events[1].detail["outcome"]["issue"])
    (answer,) = result.outbox
    assert answer.receiver_id == "hospital"
    facts = read_facts(orjson.loads(answer.raw))
    assert facts.is_acknowledgement and facts.response is not None
    assert facts.response.code == "fatal-error"
    assert facts.response.identifier == bundle["entry"][0]["resource"]["id"]
    assert facts.sender is not None and facts.sender.sor == "881531000016009"  # the hub answers
    # the answer is tracked as a message of its own
    assert [e.step for e in result.events[2:]] == [Step.RECEIVED, Step.ROUTED]
    assert result.events[2].tracking_id == answer.tracking_id


def test_sender_named_in_the_message_must_be_the_authenticated_one(
    example_paths: list[Path], register: Register, validator: Validator
) -> None:
    raw = example(example_paths, "a5e5b880")
    result = plan(incoming(raw, sender_sor=MUNICIPALITY_SOR), validator.validate(raw), register, now=NOW)
    rejected = next(e for e in result.events if e.step is Step.REJECTED)
    assert rejected.detail["outcome"]["issue"][-1]["code"] == "security"
    assert [r.receiver_id for r in result.outbox] == ["municipality"]  # only the answer, to the real sender


def test_receiver_that_does_not_accept_the_event_fails_routing(
    example_paths: list[Path], register: Register, validator: Validator
) -> None:
    raw = example(example_paths, "add5e7e2")  # a care communication: the municipality takes none
    result = plan(incoming(raw), validator.validate(raw), register, now=NOW)
    assert [e.step for e in result.events][:2] == [Step.RECEIVED, Step.ROUTING_FAILED]
    assert [r.event for r in result.outbox] == ["acknowledgement-message"]


def test_a_routing_failure_is_answered_with_medcoms_detail_code_and_noted_on_the_original(
    example_paths: list[Path], register: Register, validator: Validator
) -> None:
    raw = example(example_paths, "add5e7e2")  # a care communication: the municipality takes none
    result = plan(incoming(raw), validator.validate(raw), register, now=NOW)
    (answer,) = result.outbox
    bundle = orjson.loads(answer.raw)
    (outcome,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "OperationOutcome"]
    (issue,) = outcome["issue"]
    assert issue["code"] == "not-supported"
    assert [c["code"] for c in issue["details"]["coding"]] == ["MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE"]
    assert issue["details"]["text"].endswith(f"municipality (SOR {MUNICIPALITY_SOR})")
    (notified,) = [e for e in result.events if e.step is Step.SENDER_NOTIFIED]
    assert (notified.tracking_id, notified.receiver) == ("t-1", "municipality")
    assert notified.detail["acknowledgement_message_id"] == read_facts(bundle).message_id
    assert notified.detail["code"] == "fatal-error"
    # (this register gives no GLNs, which MedCom's Organization wants; the detail code itself is accepted)
    assert not [i for i in validator.validate(answer.raw).issues if "details" in (i.expression or "")]


def test_acknowledgement_closes_the_original_and_is_not_answered(
    example_paths: list[Path], register: Register, validator: Validator
) -> None:
    raw = example(example_paths, "a8c041b8")  # from 953741000016009 to 265161000016000, ok
    result = plan(incoming(raw, sender_sor=MUNICIPALITY_SOR), validator.validate(raw), register, now=NOW)
    acknowledged = next(e for e in result.events if e.step is Step.ACKNOWLEDGED)
    assert acknowledged.message_id == "42cb9200-f421-4d08-8391-7d51a2503cb4"
    assert acknowledged.receiver == "municipality"
    assert acknowledged.detail["code"] == "ok"
    assert [r.receiver_id for r in result.outbox] == ["hospital"]
    assert result.outbox[0].event == "acknowledgement-message"


def test_unparseable_bytes_are_rejected_with_the_tracking_id_as_reference(
    register: Register, validator: Validator
) -> None:
    raw = b'{"resourceType": "Bundle", "type": '
    result = plan(incoming(raw), validator.validate(raw), register, now=NOW)
    assert [e.step for e in result.events][:2] == [Step.RECEIVED, Step.REJECTED]
    facts = read_facts(orjson.loads(result.outbox[0].raw))
    assert facts.response is not None and facts.response.identifier == "t-1"


def test_record_from_an_unknown_sender_is_rejected_to_the_dead_letters(
    example_paths: list[Path], register: Register, validator: Validator
) -> None:
    raw = example(example_paths, "a5e5b880")
    result = plan(incoming(raw, sender_sor="111111111111111"), validator.validate(raw), register, now=NOW)
    assert [e.step for e in result.events] == [Step.RECEIVED, Step.REJECTED]
    assert result.outbox == []  # nobody to answer
    assert result.dead_letter_reason is not None and "111111111111111" in result.dead_letter_reason
