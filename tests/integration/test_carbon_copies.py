"""cc as MedCom does it, through a real hub process: a discharge letter from herlev-hjerte to a GP (primary) with a
copy to plejecenter-herlev (cc) is sent as two messages, the original and its carbon copy (new Bundle.id and
MessageHeader.id, a carboncopy-message Provenance naming the original); the GP gets the original only, the
municipality the copy only, each acknowledges its own, and the sender gets both acknowledgements. A message that
breaks MedCom's rules for copies is rejected with the reason at its FHIRPath, and the sender gets a fatal-error
acknowledgement. (SQLite, and PostgreSQL with ``--database postgresql``.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from hub.broker.embedded import EmbeddedBroker
from hub.domain.message import OrganisationRef
from hub.domain.sektorhub import DISCHARGE_LETTER_EVENT
from hub.messages import builder
from hub.simulate import MessageGenerator, clinical
from tests.integration.hubtest import (
    ALL_EVENTS,
    TEST_ORGANISATIONS,
    HubUnderTest,
    eventually,
    fresh_message,
    post_message,
    running_hub,
    wait_for_status,
)
from tests.integration.test_rejections import acknowledgements_to, load

pytestmark = pytest.mark.integration

TOPIC_PREFIX = "copies."
SENDER = "herlev-hjerte"
GP = "messaging-receiver"
MUNICIPALITY = "plejecenter-herlev"
OTHER = "forward-receiver"


@pytest.fixture(scope="module")
async def copies_hub(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[HubUnderTest]:
    """The test register, where the GP and the municipality also take the hub's discharge letter."""
    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers,
        workdir=tmp_path_factory.mktemp("copies-hub"),
        topic_prefix=TOPIC_PREFIX,
        accepts={GP: [*ALL_EVENTS, DISCHARGE_LETTER_EVENT], MUNICIPALITY: [*ALL_EVENTS, DISCHARGE_LETTER_EVENT]},
    ) as hub:
        yield hub


@pytest.fixture
async def client(copies_hub: HubUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=copies_hub.url, timeout=30) as opened:
        yield opened


def _ref(organisation_id: str) -> OrganisationRef:
    (spec,) = [s for s in TEST_ORGANISATIONS if s["id"] == organisation_id]
    return OrganisationRef(sor=spec["sor"], gln=spec["gln"], name=spec["name"])


def discharge_letter_with_copy() -> tuple[dict[str, Any], dict[str, Any]]:
    """A discharge letter to the GP with a cc to the municipality, and its carbon copy: what the hospital sends."""
    now = datetime.now(UTC)
    letter = clinical.discharge_letter(
        sender=_ref(SENDER),
        gp=_ref(GP),
        municipality=_ref(MUNICIPALITY),
        patient_cpr=MessageGenerator().fictional_cpr(),
        now=now,
    )
    original, cc = clinical.with_copies(letter, now=now)
    return original, cc


def _message_id(bundle: dict[str, Any]) -> str:
    value: str = bundle["entry"][0]["resource"]["id"]
    return value


def _received(hub: HubUnderTest, receiver: str, message_id: str) -> list[Any]:
    return [m for m in hub.receivers.received.get(receiver, []) if m.facts.message_id == message_id]


async def _acknowledgements(hub: HubUnderTest, message_id: str) -> list[Any]:
    found: list[Any] = await eventually(lambda: acknowledgements_to(hub, SENDER, message_id))
    return found


async def _fatal_error_issues(hub: HubUnderTest, message_id: str) -> list[dict[str, Any]]:
    (ack,) = await _acknowledgements(hub, message_id)
    assert ack.facts.response.code == "fatal-error"
    bundle = orjson.loads(ack.raw)
    (outcome,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "OperationOutcome"]
    issues: list[dict[str, Any]] = outcome["issue"]
    return issues


async def test_the_primary_gets_the_original_and_the_cc_receiver_its_own_copy(
    copies_hub: HubUnderTest, client: httpx.AsyncClient
) -> None:
    original, cc = discharge_letter_with_copy()
    token = copies_hub.token(SENDER)
    tracked = []
    for message in (original, cc):
        response = await post_message(client, message, token=token)
        assert response.status_code == 202, response.text
        tracked.append(response.headers["X-Hub-Tracking-Id"])
    first, second = [await wait_for_status(client, t, "acknowledged") for t in tracked]
    assert [(r["receiver"], r["use"]) for r in first["receivers"]] == [(GP, "primary")]
    assert [(r["receiver"], r["use"]) for r in second["receivers"]] == [(MUNICIPALITY, "cc")]

    original_id, copy_id = _message_id(original), _message_id(cc)
    assert original_id != copy_id
    (to_gp,) = _received(copies_hub, GP, original_id)
    (to_municipality,) = _received(copies_hub, MUNICIPALITY, copy_id)
    assert not _received(copies_hub, GP, copy_id) and not _received(copies_hub, MUNICIPALITY, original_id)
    assert orjson.loads(to_gp.raw) == original
    delivered = orjson.loads(to_municipality.raw)
    assert delivered == cc and delivered["id"] != original["id"]
    (stacked,) = [
        e["resource"]
        for e in delivered["entry"]
        if e["resource"]["resourceType"] == "Provenance"
        and e["resource"]["activity"]["coding"][0]["code"] == "carboncopy-message"
    ]
    assert stacked["entity"] == [{"role": "revision", "what": {"reference": f"MessageHeader/{original_id}"}}]
    assert stacked["target"] == [{"reference": f"MessageHeader/{copy_id}"}]

    # each receiver acknowledged its own message, and the sender got both acknowledgements
    for message_id in (original_id, copy_id):
        (ack,) = await _acknowledgements(copies_hub, message_id)
        assert ack.facts.response.code == "ok"


async def test_a_care_communication_with_a_cc_receiver_is_rejected_with_the_reason(
    copies_hub: HubUnderTest, client: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    bundle = fresh_message(load(example_paths, "add5e7e2"))  # herlev-hjerte -> plejecenter-herlev
    header = bundle["entry"][0]["resource"]
    other = _ref(OTHER)
    organisation = builder.organization(other, resource_id="cc-organisation")
    bundle["entry"].append({"fullUrl": builder.full_url(organisation), "resource": organisation})
    header["destination"].append(builder.destination(organisation, use="cc"))
    message_id = _message_id(bundle)
    response = await post_message(client, bundle, token=copies_hub.token(SENDER))
    assert response.status_code == 202, response.text
    record = await wait_for_status(client, response.headers["X-Hub-Tracking-Id"], "rejected")
    assert record["receivers"] == []

    (issue,) = await _fatal_error_issues(copies_hub, message_id)
    assert issue["code"] == "invalid"
    assert issue["expression"] == ["Bundle.entry[0].resource.destination[1]"]
    assert "destination:cc 0..0" in issue["diagnostics"]
    for receiver in (MUNICIPALITY, OTHER):
        assert not _received(copies_hub, receiver, message_id)


async def test_a_carbon_copy_that_does_not_name_its_original_is_rejected(
    copies_hub: HubUnderTest, client: httpx.AsyncClient
) -> None:
    _, cc = discharge_letter_with_copy()
    where = len(cc["entry"]) - 1
    del cc["entry"][where]["resource"]["entity"]
    message_id = _message_id(cc)
    response = await post_message(client, cc, token=copies_hub.token(SENDER))
    assert response.status_code == 202, response.text
    await wait_for_status(client, response.headers["X-Hub-Tracking-Id"], "rejected")

    (issue,) = await _fatal_error_issues(copies_hub, message_id)
    assert issue["code"] == "required"
    assert issue["expression"] == [f"Bundle.entry[{where}].resource.entity"]
    assert "names the original message" in issue["diagnostics"]
    assert not _received(copies_hub, MUNICIPALITY, message_id)
