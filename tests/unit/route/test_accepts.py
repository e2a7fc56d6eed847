"""What a register entry accepts (event codes, in any version or in named MessageDefinition versions) and the pure
decision whether a receiver takes a message's version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.domain import medcom
from hub.domain.message import read_facts
from hub.route.accepts import (
    KNOWN_DEFINITIONS,
    Accepts,
    AcceptsError,
    VersionRestriction,
    definition_version,
    parse_accepts,
    version_refusal,
)
from hub.settings import SCHEMAS_DIR
from tests.medcom_examples import MEDCOM_EXAMPLES, SHARED

CARE = "care-communication-message"
NOTIFICATION = "hospital-notification-message"
CARE_DEFINITION = f"{medcom.MESSAGE_DEFINITIONS}MedComCareCommunicationMessageDefinition"


def restriction(event: str, *versions: str) -> VersionRestriction:
    return VersionRestriction(event, frozenset(versions))


# --- the forms users write --------------------------------------------------------------------------------------


def test_event_codes_alone_take_any_version() -> None:
    assert parse_accepts([CARE, "acknowledgement-message"]) == Accepts(frozenset({CARE, "acknowledgement-message"}))


@pytest.mark.parametrize(
    "written",
    [
        [f"{CARE}|5.0", f"{CARE}|5.1"],  # event|version, twice
        [{CARE: ["5.0", "5.1"]}],  # event: [versions]
        [{CARE: "5.0"}, f"{CARE}|5.1"],  # event: version, and event|version
        [f"{CARE_DEFINITION}|5.0", f"{CARE_DEFINITION}|5.1"],  # the MessageDefinition canonical with its version
        {CARE: ["5.0", "5.1"]},  # accepts as one mapping
    ],
)
def test_every_form_names_the_same_versions(written: Any) -> None:
    assert parse_accepts(written) == Accepts(frozenset({CARE}), (restriction(CARE, "5.0", "5.1"),))


def test_a_mapping_mixes_any_version_and_named_versions() -> None:
    parsed = parse_accepts({NOTIFICATION: None, CARE: ["5.0"], "acknowledgement-message": None})
    assert parsed.events == {NOTIFICATION, CARE, "acknowledgement-message"}
    assert parsed.restrictions == (restriction(CARE, "5.0"),)


def test_a_canonical_without_version_is_its_event_in_any_version() -> None:
    assert parse_accepts([CARE_DEFINITION]) == Accepts(frozenset({CARE}))


def test_a_python_set_of_event_codes_still_works() -> None:
    assert parse_accepts(frozenset({CARE, f"{NOTIFICATION}|3.0"})).restrictions == (restriction(NOTIFICATION, "3.0"),)


@pytest.mark.parametrize(
    ("written", "words"),
    [
        ([f"{CARE}|"], "accepts[0] 'care-communication-message|': nothing after '|'"),
        ([{CARE: [5.0]}], "version 5.0 is a YAML number; write it as text ('5.0')"),
        ([{CARE: 5}], "version 5 is a YAML number"),
        ([{CARE: []}], "names no version; leave the value out for any version"),
        ([{CARE: [True]}], "a version is text"),
        ([f"{CARE}|5 .0"], "'5 .0' is not a version"),
        ([{f"{CARE}|5.0": ["5.1"]}], "either after '|' or as the value, not both"),
        (["care communication"], "'care communication' is not an event code"),
        (["http://example.org/MessageDefinition/Other|1.0"], "is not a MessageDefinition the hub knows"),
        ([CARE, f"{CARE}|5.0"], "named for any version (accepts[0] 'care-communication-message') and for version 5.0"),
        (CARE, "is one entry; write a list"),
        ([7], "accepts[0] 7: an entry is an event code"),
        (7, "a list of event codes, not int"),
    ],
)
def test_a_malformed_entry_is_refused_naming_the_entry(written: Any, words: str) -> None:
    with pytest.raises(AcceptsError) as raised:
        parse_accepts(written)
    assert words in str(raised.value)


# --- reading the version ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definition", "version"),
    [
        (f"{CARE_DEFINITION}|5.0", "5.0"),
        (f"{CARE_DEFINITION}|4.0.1", "4.0.1"),
        (CARE_DEFINITION, None),
        (f"{CARE_DEFINITION}|", None),
        (None, None),
        ("", None),
    ],
)
def test_the_version_is_what_follows_the_bar(definition: str | None, version: str | None) -> None:
    assert definition_version(definition) == version


def test_the_facts_carry_the_definition_of_the_official_example() -> None:
    bundle = orjson.loads((MEDCOM_EXAMPLES / "carecommunication").glob("Bundle-add5e7e2*.json").__next__().read_bytes())
    assert read_facts(bundle).definition == f"{CARE_DEFINITION}|5.0"
    assert (
        read_facts({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "MessageHeader"}}]}).definition
        is None
    )


# --- the decision ----------------------------------------------------------------------------------------------------


def test_any_version_takes_every_message() -> None:
    for definition in (f"{CARE_DEFINITION}|9.9", CARE_DEFINITION, None):
        assert version_refusal(CARE, None, definition) is None


def test_a_named_version_is_taken_and_another_refused_with_both_named() -> None:
    versions = frozenset({"5.0"})
    assert version_refusal(CARE, versions, f"{CARE_DEFINITION}|5.0") is None
    refused = version_refusal(CARE, versions, f"{CARE_DEFINITION}|5.1")
    assert refused is not None
    assert "does not take version 5.1 of 'care-communication-message'" in refused
    assert "it takes version 5.0" in refused and "MessageHeader.definition" in refused


def test_versions_are_compared_exactly() -> None:
    assert version_refusal(CARE, frozenset({"5.0"}), f"{CARE_DEFINITION}|5.0.1") is not None


@pytest.mark.parametrize(
    ("definition", "words"),
    [(None, "MessageHeader.definition is missing"), (CARE_DEFINITION, "names no |version")],
)
def test_a_message_naming_no_version_is_refused_by_a_receiver_that_names_versions(
    definition: str | None, words: str
) -> None:
    refused = version_refusal(CARE, frozenset({"5.0", "5.1"}), definition)
    assert refused is not None
    assert "only in versions 5.0, 5.1" in refused and "names no version" in refused and words in refused


# --- the MessageDefinitions the hub knows ----------------------------------------------------------------------------


def _definitions(folder: Path) -> dict[str, str]:
    found = {}
    for path in folder.glob("MessageDefinition-*.json"):
        definition = orjson.loads(path.read_bytes())
        found[definition["url"]] = definition["eventCoding"]["code"]
    return found


def test_the_known_definitions_are_the_shipped_and_medcom_message_definitions() -> None:
    own = _definitions(SCHEMAS_DIR / "sektorhub")
    medcoms = _definitions(SHARED / "medcom" / "profiles" / "medcom.fhir.dk.messagedefinitions-1.0.0")
    assert own and medcoms
    assert dict(KNOWN_DEFINITIONS) == own | medcoms
