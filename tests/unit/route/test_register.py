from __future__ import annotations

from pathlib import Path

import pytest

from hub.domain import medcom
from hub.fhirxml.media import FhirFormat
from hub.route.accepts import version_refusal
from hub.route.register import RegisterError, hash_token, load_register, parse_register
from hub.settings import SCHEMAS_DIR
from tests.unit.route.registers import organisation, small_register


def test_lookups_by_sor_id_and_token() -> None:
    register = small_register()
    assert register.by_sor("200000000000001").id == "kommune-a"  # type: ignore[union-attr]
    assert register.by_id("kommune-b").sor == "200000000000002"  # type: ignore[union-attr]
    assert register.by_token("token-hospital").id == "hospital"  # type: ignore[union-attr]
    assert register.by_token("token-nobody") is None
    assert register.by_sor(None) is None
    assert register.name_of("200000000000001") == "kommune-a"
    assert register.name_of("900000000000001") == "hub"
    assert register.name_of("555") == "sor:555"


def test_tokens_are_kept_only_as_hashes() -> None:
    register = small_register()
    hospital = register.by_id("hospital")
    assert hospital is not None
    assert hospital.token_sha256 == hash_token("token-hospital")
    assert "token-hospital" not in repr(hospital)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sor": "12ab"}, "SOR code '12ab'"),
        ({"gln": "5790001234567"}, "check digit 7, expected 0"),
        ({"endpoint": {"kind": "http"}}, "needs a url"),
        ({"kind": "pharmacy"}, "kind"),
        ({"colour": "blue"}, "colour"),
        ({"endpoint": {"kind": "mailbox", "format": "yaml"}}, "format"),
    ],
)
def test_bad_entries_are_refused_with_the_reason(change: dict[str, object], message: str) -> None:
    with pytest.raises(RegisterError) as caught:
        small_register({**organisation("odd-one", "400000000000001"), **change})
    assert message in str(caught.value)
    assert caught.value.args[0].startswith("test:")


def test_duplicate_sor_is_refused() -> None:
    with pytest.raises(RegisterError, match="two organisations have sor"):
        small_register(organisation("twin", "200000000000001"))


def test_environment_variables_are_expanded_and_missing_ones_named() -> None:
    data = {
        "hub": {"name": "hub", "sor": "900000000000001"},
        "organisations": [
            organisation("kommune", "200000000000001", endpoint={"kind": "http", "url": "${BASE}/kommune"})
        ],
    }
    register = parse_register(data, source="r.yaml", environ={"BASE": "https://kommune.example"})
    assert register.organisations[0].endpoint.url == "https://kommune.example/kommune"
    with pytest.raises(RegisterError, match="BASE is not set"):
        parse_register(data, source="r.yaml", environ={})


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(RegisterError, match="cannot read register"):
        load_register(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("hub: [unclosed", encoding="utf-8")
    with pytest.raises(RegisterError, match="not valid YAML"):
        load_register(broken)


def test_demo_register_loads() -> None:
    register = load_register(
        SCHEMAS_DIR / "demo-register.yaml",
        environ={"DEMO_RECEIVERS_URL": "http://127.0.0.1:1", "DEMO_RECEIVER_TOKEN": "x"},
    )
    kinds = {o.kind for o in register.organisations}
    assert kinds == {"hospital", "municipality", "gp"}
    assert any(o.endpoint.kind == "mailbox" for o in register.organisations)
    for o in register.organisations:
        assert register.by_token(f"demo-{o.id}") is o


VERSIONED_YAML = """
hub: {name: hub, sor: "900000000000001"}
organisations:
  - id: kommune-versions
    name: Kommune med versioner
    kind: municipality
    sor: "200000000000001"
    endpoint: {kind: mailbox}
    accepts:
      - acknowledgement-message
      - care-communication-message|5.0
      - hospital-notification-message: ["3.0", 3.1.0]
      - http://sektorhub.dk/fhir/MessageDefinition/sektorhub-referral|1.0.0
"""


def test_versions_in_accepts_are_read_from_yaml_and_accepts_keeps_the_event_codes(tmp_path: Path) -> None:
    path = tmp_path / "register.yaml"
    path.write_text(VERSIONED_YAML, encoding="utf-8")
    organisation = load_register(path).by_id("kommune-versions")
    assert organisation is not None
    assert organisation.accepts == {
        "acknowledgement-message",
        "care-communication-message",
        "hospital-notification-message",
        "sektorhub-referral-message",
    }
    assert organisation.versions_of("care-communication-message") == frozenset({"5.0"})
    assert organisation.versions_of("hospital-notification-message") == frozenset({"3.0", "3.1.0"})
    assert organisation.versions_of("sektorhub-referral-message") == frozenset({"1.0.0"})
    assert organisation.versions_of("acknowledgement-message") is None  # any version
    assert hash(organisation)  # still a frozen, hashable entry


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("care-communication-message|", "accepts[1] 'care-communication-message|': nothing after '|'"),
        ("{care-communication-message: [5.0]}", "version 5.0 is a YAML number; write it as text ('5.0')"),
        ("http://example.org/MessageDefinition/X|1", "is not a MessageDefinition the hub knows"),
    ],
)
def test_a_malformed_accepts_entry_is_refused_at_start_naming_file_organisation_and_entry(
    tmp_path: Path, entry: str, words: str
) -> None:
    path = tmp_path / "register.yaml"
    path.write_text(VERSIONED_YAML.replace("- care-communication-message|5.0", f"- {entry}"), encoding="utf-8")
    with pytest.raises(RegisterError) as raised:
        load_register(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: organisations.0")
    assert "organisation 'kommune-versions'" in message and words in message


def test_versions_are_named_in_accepts_or_accepted_versions_not_both() -> None:
    both = organisation(
        "odd-one",
        "400000000000001",
        accepts=["care-communication-message|5.0"],
        accepted_versions=[{"event": "care-communication-message", "versions": ["5.1"]}],
    )
    with pytest.raises(RegisterError, match="not both"):
        small_register(both)


def test_the_demo_names_a_version_and_takes_every_care_communication_the_hub_builds() -> None:
    register = load_register(
        SCHEMAS_DIR / "demo-register.yaml",
        environ={"DEMO_RECEIVERS_URL": "http://127.0.0.1:1", "DEMO_RECEIVER_TOKEN": "x"},
    )
    aarhus = register.by_id("kommune-aarhus")
    assert aarhus is not None and aarhus.versions_of(medcom.CARE_COMMUNICATION_EVENT) == frozenset({"5.0"})
    for o in register.organisations:
        if medcom.CARE_COMMUNICATION_EVENT in o.accepts:
            versions = o.versions_of(medcom.CARE_COMMUNICATION_EVENT)
            assert (
                version_refusal(medcom.CARE_COMMUNICATION_EVENT, versions, medcom.CARE_COMMUNICATION_DEFINITION) is None
            )


def test_an_endpoint_takes_fhir_json_unless_it_asks_for_xml() -> None:
    register = small_register(
        organisation("json-one", "400000000000001"),
        {**organisation("xml-one", "400000000000002"), "endpoint": {"kind": "mailbox", "format": "xml"}},
    )
    formats = [o.endpoint.format for o in map(register.by_id, ("json-one", "xml-one")) if o is not None]
    assert formats == [FhirFormat.JSON, FhirFormat.XML]
