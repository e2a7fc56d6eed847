"""One reading of a message at intake: with hospital A's token, a message that names hospital B as its sender to
any parser that keeps the first of a duplicate key, or whose sender has two SOR codes, is refused with 400 and an
OperationOutcome naming the place; never accepted, nor matched on one of the two."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from hub.domain import medcom
from hub.simulate.generator import MessageGenerator
from tests.integration.hubtest import HubUnderTest, post_message

pytestmark = pytest.mark.integration

LINE = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line"


def _message(hub: HubUnderTest) -> dict[str, Any]:
    hospital, municipality = hub.register.by_id("herlev-hjerte"), hub.register.by_id("plejecenter-herlev")
    assert hospital is not None and municipality is not None
    return MessageGenerator(seed=secrets.randbits(32)).hospital_notification(
        sender=hospital.ref, receiver=municipality.ref, event="STIN", now=datetime.now(UTC)
    )


def _with_hospital_b(bundle: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The bundle with hospital B (messaging-sender, SOR 123456789012345) as one more Organization entry."""
    b = {
        "resourceType": "Organization",
        "id": "hospital-b",
        "identifier": [{"system": medcom.SOR_SYSTEM, "value": "123456789012345"}],
        "name": "Sender Organization",
    }
    bundle["entry"].append({"fullUrl": "Organization/hospital-b", "resource": b})
    return bundle, "Organization/hospital-b"


async def test_a_sender_given_twice_is_refused_at_intake(hub: HubUnderTest, api: httpx.AsyncClient) -> None:
    bundle, hospital_b = _with_hospital_b(_message(hub))
    a = bundle["entry"][0]["resource"]["sender"]["reference"]
    raw = orjson.dumps(bundle)
    single = f'"sender":{{"reference":"{a}"}}'.encode()
    assert raw.count(single) == 1
    forged = raw.replace(single, f'"sender":{{"reference":"{hospital_b}","reference":"{a}"}}'.encode())

    response = await post_message(api, forged, token=hub.token("herlev-hjerte"))
    assert response.status_code == 400, response.text
    [issue] = response.json()["issue"]
    assert issue["severity"] == "fatal"
    assert issue["expression"] == ["Bundle.entry[0].resource.sender.reference"]
    assert "'reference'" in issue["diagnostics"]
    assert {e["url"] for e in issue["extension"]} >= {LINE}

    # hospital B's own token fares no better: the hub reads A, B's parser would read B
    assert (await post_message(api, forged, token=hub.token("messaging-sender"))).status_code == 400


async def test_an_identifier_given_twice_is_refused_at_intake(hub: HubUnderTest, api: httpx.AsyncClient) -> None:
    bundle = _message(hub)
    raw = orjson.dumps(bundle)
    own = b'{"system":"urn:oid:1.2.208.176.1.1","value":"265161000016000"}'
    assert own in raw
    other = b'"identifier":[{"system":"urn:oid:1.2.208.176.1.1","value":"123456789012345"}],'
    at = raw.rfind(b'"identifier":', 0, raw.index(own))
    forged = raw[:at] + other + raw[at:]
    response = await post_message(api, forged, token=hub.token("herlev-hjerte"))
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"][0].endswith(".identifier")


async def test_a_sender_with_two_sor_codes_is_refused_at_intake(hub: HubUnderTest, api: httpx.AsyncClient) -> None:
    for first in (True, False):
        bundle = _message(hub)
        header = bundle["entry"][0]["resource"]
        sender = next(
            e["resource"] for e in bundle["entry"] if header["sender"]["reference"].endswith(e["resource"]["id"])
        )
        second = {"system": medcom.SOR_SYSTEM, "value": "123456789012345"}
        sender["identifier"].insert(0, second) if first else sender["identifier"].append(second)
        for token in ("herlev-hjerte", "messaging-sender"):
            response = await post_message(api, bundle, token=hub.token(token))
            assert response.status_code == 400, response.text
            [issue] = response.json()["issue"]
            assert issue["expression"] == ["Bundle.entry[0].resource.sender"]
            assert "more than one SOR identifier" in issue["diagnostics"]
