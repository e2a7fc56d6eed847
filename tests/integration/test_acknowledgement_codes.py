"""The fatal-error acknowledgement a sender gets from a real hub process names the refusal with MedCom's
acknowledgement issue-details code (medcom-acknowledgement-error-codes) and a readable details.text, and its
OperationOutcome is valid for the hub's own validator against MedCom's acknowledgement profile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from hub.validate.validator import Validator
from tests.integration.hubtest import HubUnderTest, eventually, post_message, wait_for_status
from tests.integration.test_rejections import acknowledgements_to, load, organisation, set_header_id

pytestmark = pytest.mark.integration

SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-acknowledgement-error-codes"


async def received_outcome(hub: HubUnderTest, sender: str, message_id: str) -> list[dict[str, Any]]:
    """The OperationOutcome issues of the fatal-error acknowledgement `sender` got for `message_id`, about which
    the hub's validator finds nothing (not even a warning, which is what a coding outside the profile's required
    ValueSet gets). (The test register gives the hub no GLN, which MedCom's Organization wants: those issues are
    about the Organization entry, not the outcome.)"""
    acks = await eventually(lambda: acknowledgements_to(hub, sender, message_id))
    assert acks[0].facts.response.code == "fatal-error"
    bundle = orjson.loads(acks[0].raw)
    (at,) = [i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "OperationOutcome"]
    verdict = Validator().validate(acks[0].raw)
    about_outcome = [i for i in verdict.issues if (i.expression or "").startswith(f"Bundle.entry[{at}]")]
    assert about_outcome == [], [i.as_dict() for i in about_outcome]
    assert not [i for i in verdict.issues if "details" in (i.expression or "") + i.diagnostics]
    issues: list[dict[str, Any]] = bundle["entry"][at]["resource"]["issue"]
    return issues


def codes(issue: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in issue.get("details", {}).get("coding", [])]


async def test_an_invalid_code_is_answered_with_msg_valueset_value_unknown(
    hub: HubUnderTest, api: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    bundle = load(example_paths, "a5e5b880")  # STIN from herlev-hjerte to plejecenter-herlev
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Encounter":
            entry["resource"]["status"] = "bogus"
    bundle["type"] = "batch"  # and an error no MedCom code fits
    set_header_id(bundle, "ack-code-invalid-1")
    response = await post_message(api, bundle, token=hub.token("herlev-hjerte"))
    assert response.status_code == 202, response.text
    await wait_for_status(api, response.headers["X-Hub-Tracking-Id"], "rejected")

    issues = await received_outcome(hub, "herlev-hjerte", "ack-code-invalid-1")
    on_status = next(i for i in issues if any(e.endswith(".status") for e in i.get("expression", [])))
    assert codes(on_status) == [(SYSTEM, "MSG_VALUESET_VALUE_UNKNOWN")]
    assert on_status["details"]["text"] == "The value provided is not in the valueSet"
    on_type = next(i for i in issues if i.get("expression") == ["Bundle.type"])
    assert codes(on_type) == []  # only the FHIR issue type
    assert on_type["details"]["text"]


async def test_an_unknown_receiver_is_answered_with_msg_receiver_identifier_unknown(
    hub: HubUnderTest, api: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    bundle = load(example_paths, "add5e7e2")  # care communication herlev-hjerte -> plejecenter-herlev
    header = bundle["entry"][0]["resource"]
    set_header_id(bundle, "ack-code-nowhere-1")
    receiver = organisation(bundle, header["destination"][0]["receiver"]["reference"])
    for identifier in receiver["identifier"]:
        if identifier["system"] == "urn:oid:1.2.208.176.1.1":
            identifier["value"] = "999999999999998"
    response = await post_message(api, bundle, token=hub.token("herlev-hjerte"))
    assert response.status_code == 202, response.text
    await wait_for_status(api, response.headers["X-Hub-Tracking-Id"], "failed")

    (issue,) = await received_outcome(hub, "herlev-hjerte", "ack-code-nowhere-1")
    assert codes(issue) == [(SYSTEM, "MSG_Receiver_Identifier_UNKNOWN")]
    assert issue["details"]["coding"][0]["display"] == "Receiver identifier unknown"
    assert "999999999999998" in issue["details"]["text"]
