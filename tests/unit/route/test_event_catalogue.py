"""The event catalogue: each event's MedCom activity codes and its trial messages, as shipped under schemas/."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from hub.domain.message import read_facts
from hub.route.criteria import TrialMessage, compile_criteria
from hub.route.event_catalogue import (
    SCHEMAS_DIR,
    EventCatalogue,
    load_event_catalogue,
    shipped_event_catalogue,
    valueset_codes,
)
from hub.validate.validator import Validator

HN = "hospital-notification-message"
CC = "care-communication-message"


def test_activity_codes_come_from_medcoms_valuesets() -> None:
    catalogue = shipped_event_catalogue()
    assert catalogue.activity_codes(CC) == frozenset({"new-message", "reply-message", "forward-message"})
    hospital = catalogue.activity_codes(HN)
    assert hospital is not None and len(hospital) == 18
    assert {"admit-inpatient", "admit-emergency", "cancel-discharge-inpatient-home"} <= hospital
    assert "new-message" not in hospital
    # the hub's own message types: new, corrected or withdrawn
    own = catalogue.activity_codes("sektorhub-referral-message")
    assert own == frozenset({"new-message", "modified-message", "retract-message"})
    # '*' is every event's codes but acknowledgements'
    everything = catalogue.activity_codes("*")
    assert everything is not None and hospital | {"forward-message", "carboncopy-message"} <= everything
    assert catalogue.activity_codes("no-such-event") is None


def test_a_valueset_exclude_is_taken_out() -> None:
    system = "http://example.org/activities"
    document = {
        "resourceType": "ValueSet",
        "compose": {
            "include": [{"system": system, "concept": [{"code": "a"}, {"code": "b"}]}],
            "exclude": [{"system": system, "concept": [{"code": "b"}]}],
        },
    }
    assert valueset_codes(document, system) == {"a"}
    with pytest.raises(ValueError, match="no codes"):
        valueset_codes(document, "http://example.org/other")
    with pytest.raises(ValueError, match="not a FHIR ValueSet"):
        valueset_codes({"resourceType": "CodeSystem"}, system)


def test_every_trial_message_is_a_valid_message_of_its_event_with_one_of_its_activity_codes() -> None:
    catalogue = shipped_event_catalogue()
    validator = Validator()
    assert len(catalogue.trial_messages(HN)) >= 5 and len(catalogue.trial_messages(CC)) >= 5
    for event, messages in catalogue.trials.items():
        assert event in validator.event_codes
        for message in messages:
            facts = read_facts(message.bundle)
            assert facts.event == event, message.name
            assert facts.activity in (catalogue.activity_codes(event) or ()), message.name
            verdict = validator.validate(orjson.dumps(message.bundle))
            assert verdict.valid, (message.name, [i.diagnostics for i in verdict.issues if i.is_error][:3])
    assert len(catalogue.trial_messages("*")) == sum(len(m) for m in catalogue.trials.values())


def test_a_criterion_is_tried_once_per_expression_and_topic() -> None:
    calls: list[str] = []

    def counting(bundle: dict[str, object]) -> list[object]:
        calls.append(str(bundle["id"]))
        return [True]

    catalogue = EventCatalogue({}, {HN: (TrialMessage("a", {"id": "a"}), TrialMessage("b", {"id": "b"}))})
    for _ in range(3):
        assert catalogue.criterion_problem("x", counting, HN) is None
    assert calls == ["a", "b"]
    assert catalogue.criterion_problem("x", counting, CC) is None  # no trial messages of that event: nothing to try
    assert calls == ["a", "b"]


def test_the_catalogue_reads_another_schemas_folder(tmp_path: Path) -> None:
    (tmp_path / "medcom").mkdir()
    for path in (SCHEMAS_DIR / "medcom").glob("ValueSet-*.json"):
        (tmp_path / "medcom" / path.name).write_bytes(path.read_bytes())
    (tmp_path / "trial-messages" / HN).mkdir(parents=True)
    (tmp_path / "trial-messages" / HN / "one.json").write_bytes(b'{"resourceType": "Bundle", "timestamp": "2024"}')
    catalogue = load_event_catalogue(tmp_path, own_events=())
    assert [m.name for m in catalogue.trial_messages(HN)] == [f"{HN}/one.json"]
    problem = catalogue.criterion_problem("Bundle.timestamp > 5", compile_criteria("Bundle.timestamp > 5"), HN)
    assert problem is not None and problem.startswith(f"fails on the trial message {HN}/one.json: ")
    (tmp_path / "trial-messages" / HN / "two.json").write_bytes(b'{"resourceType": "Patient"}')
    with pytest.raises(ValueError, match=r"two\.json is not a FHIR Bundle"):
        load_event_catalogue(tmp_path)
