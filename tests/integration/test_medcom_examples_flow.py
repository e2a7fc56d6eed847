"""Every official MedCom example message goes through the hub to exactly the receivers it names, and the
receivers' acknowledgements flow back to the sender and close the original's tracking record."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from hub.domain.message import read_facts
from tests.integration.hubtest import HubUnderTest, eventually, post_message, wait_for_status

pytestmark = pytest.mark.integration


def receivers_of(hub: HubUnderTest, tracking_id: str) -> set[str]:
    return {
        receiver
        for receiver, messages in hub.receivers.received.items()
        for message in messages
        if message.tracking_id == tracking_id
    }


def received_by_exactly(hub: HubUnderTest, tracking_id: str, expected: set[str]) -> bool | None:
    return receivers_of(hub, tracking_id) == expected or None


async def send_and_check(hub: HubUnderTest, api: httpx.AsyncClient, paths: list[Path]) -> None:
    sent = []
    for path in paths:
        raw = path.read_bytes()
        facts = read_facts(orjson.loads(raw))
        assert facts.sender is not None
        sender = hub.register.by_sor(facts.sender.sor)
        assert sender is not None, f"{path.name}: sender SOR {facts.sender.sor} missing from the test register"
        response = await post_message(api, raw, token=hub.token(sender.id))
        assert response.status_code == 202, f"{path.name}: {response.text}"
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        tracking_id = response.headers["X-Hub-Tracking-Id"]
        assert outcome["id"] == tracking_id
        sent.append((path, facts, sender.id, tracking_id))

    for path, facts, sender_id, tracking_id in sent:
        expected = {
            hub.register.by_sor(d.organisation.sor).id  # type: ignore[union-attr]
            for d in facts.destinations
            if d.organisation
        }
        final = "delivered" if facts.is_acknowledgement else "acknowledged"
        await wait_for_status(api, tracking_id, final, "failed", "rejected")
        # an acknowledgement may be recorded before the delivery report: wait for both
        record = await eventually(functools.partial(_with_step, api, tracking_id, "delivered"))
        assert record["status"] == final, f"{path.name}: {orjson.dumps(record, option=orjson.OPT_INDENT_2).decode()}"
        assert {r["receiver"] for r in record["receivers"]} == expected
        # exactly the named receivers have this message, nobody else
        assert await eventually(functools.partial(received_by_exactly, hub, tracking_id, expected))
        steps = [step["step"] for step in record["timeline"]]
        assert steps[0] == "received"
        assert "routed" in steps and "delivered" in steps
        if not facts.is_acknowledgement:
            assert "acknowledged" in steps
            assert all(r["acknowledgement"] == "ok" for r in record["receivers"])
            # the acknowledgement reached the original sender's own system
            acknowledgements = [
                m.facts
                for m in hub.receivers.received.get(sender_id, [])
                if m.facts.is_acknowledgement and m.facts.response and m.facts.response.identifier == facts.message_id
            ]
            assert acknowledgements, f"{path.name}: no acknowledgement reached {sender_id}"
            assert {a.sender.sor for a in acknowledgements if a.sender} == {
                d.organisation.sor for d in facts.destinations if d.organisation
            }


async def _with_step(api: httpx.AsyncClient, tracking_id: str, step: str) -> dict[str, Any] | None:
    record: dict[str, Any] = (await api.get(f"/api/messages/{tracking_id}")).json()
    return record if step in [s["step"] for s in record["timeline"]] else None


async def test_every_medcom_example_is_delivered_and_acknowledged(
    hub: HubUnderTest, api: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    # The acknowledgement examples answer some of the other examples (by MessageHeader.id). Sent first, they
    # would tell the hub the receiver has those messages already, and it would rightly not deliver them
    # again; so, as in real life, the messages go first and the acknowledgements after.
    acknowledgements = [p for p in example_paths if p.parent.name == "acknowledgement"]
    await send_and_check(hub, api, [p for p in example_paths if p not in acknowledgements])
    await send_and_check(hub, api, acknowledgements)


async def test_acknowledgements_are_not_acknowledged(
    hub: HubUnderTest, api: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    ack_path = next(p for p in example_paths if "a8c041b8" in p.name)
    raw = ack_path.read_bytes()
    facts = read_facts(orjson.loads(raw))
    sender = hub.register.by_sor(facts.sender.sor if facts.sender else None)
    assert sender is not None
    response = await post_message(api, raw, token=hub.token(sender.id))
    tracking_id = response.headers["X-Hub-Tracking-Id"]
    record = await wait_for_status(api, tracking_id, "delivered")
    await asyncio.sleep(1.0)  # give a (wrong) acknowledgement of the acknowledgement time to show up
    after = await api.get(f"/api/messages/{tracking_id}")
    assert after.json()["status"] == "delivered"
    assert "acknowledged" not in [s["step"] for s in record["timeline"]]
