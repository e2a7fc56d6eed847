"""Senders hear of every failure, through real hub processes, the real broker and real HTTP receivers (the
hospital that sends is one of them: it receives acknowledgements): a dead letter brings the sender exactly one
MedCom Acknowledgement of the hub's own, with MedCom's detail code and the receiver named; a later redrive brings
it the receiver's own acknowledgement; and a receiver switched off for a night, under the default retry settings,
gets its message in the morning instead of it becoming a dead letter."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from hub.broker.embedded import EmbeddedBroker
from hub.domain.message import MessageFacts
from hub.settings import HubSettings
from hub.simulate.receivers import ReceivedMessage, Reply
from hub.store.engine import connect_database, writing
from hub.store.tables import parked
from tests.integration.hubtest import HubUnderTest, eventually, running_hub
from tests.integration.reliability import Stream

pytestmark = pytest.mark.integration

HUB_SOR, RECEIVER_SOR = "881531000016009", "953741000016009"


def answers(hub: HubUnderTest, message_id: str) -> list[ReceivedMessage]:
    """The acknowledgements the sending hospital got for one of its messages, in the order it got them."""
    return [
        r
        for r in hub.receivers.received.get("herlev-hjerte", [])
        if r.facts.response is not None and r.facts.response.identifier == message_id
    ]


def from_the_hub(hub: HubUnderTest, message_id: str) -> list[ReceivedMessage]:
    return [r for r in answers(hub, message_id) if r.facts.sender is not None and r.facts.sender.sor == HUB_SOR]


def the_issue(received: ReceivedMessage) -> dict[str, Any]:
    bundle = orjson.loads(received.raw)
    (outcome,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "OperationOutcome"]
    (issue,) = outcome["issue"]
    assert isinstance(issue, dict)
    return issue


async def timeline(client: httpx.AsyncClient, tracking_id: str) -> list[dict[str, Any]]:
    record = (await client.get(f"/api/messages/{tracking_id}")).json()
    return list(record.get("timeline", []))


async def test_a_dead_letter_tells_the_sender_once_and_a_redrive_brings_the_receivers_acknowledgement(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    refusing = {"plejecenter-herlev"}

    def behaviour(receiver: str, _: MessageFacts) -> Reply:
        return Reply(status=400) if receiver in refusing else Reply()

    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers, workdir=tmp_path, topic_prefix="notice.", behaviour=behaviour
    ) as hub:
        stream = Stream(hub, ["plejecenter-herlev"], patients=1, per_patient=1, seed=7)
        await stream.send()
        (message,) = stream.all
        (notice,) = await eventually(lambda: from_the_hub(hub, message.message_id), timeout=60)
        assert notice.facts.response is not None and notice.facts.response.code == "fatal-error"
        issue = the_issue(notice)
        assert [c["code"] for c in issue["details"]["coding"]] == ["MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE"]
        assert f"Plejecenter Herlev (SOR {RECEIVER_SOR})" in issue["details"]["text"]
        assert "HTTP 400" in issue["diagnostics"]
        async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
            steps = await eventually(lambda: _with_step(client, message.tracking_id, "sender-notified"), timeout=60)
            (notified,) = [s for s in steps if s["step"] == "sender-notified"]
            assert notified["detail"] == {
                "code": "fatal-error",
                "detail_code": "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE",
                "acknowledgement_message_id": notice.facts.message_id,
                "receiver": "plejecenter-herlev",
            }
            assert (await client.get(f"/api/messages/{message.tracking_id}")).json()["status"] == "failed"

            # the operator redrives it once the receiver takes messages again
            refusing.clear()
            (dead,) = (await client.get("/api/dead-letters")).json()["dead_letters"]
            assert (await client.post(f"/api/dead-letters/{dead['id']}/redrive")).status_code == 200
            (own,) = await eventually(
                lambda: [a for a in answers(hub, message.message_id) if a.facts.sender.sor == RECEIVER_SOR],  # type: ignore[union-attr]
                timeout=60,
            )
            assert own.facts.response is not None and own.facts.response.code == "ok"
            record = await eventually(lambda: _status(client, message.tracking_id, "acknowledged"), timeout=60)
            assert [s["step"] for s in record["timeline"]].count("sender-notified") == 1
        assert len(from_the_hub(hub, message.message_id)) == 1  # one notice, however it ended


async def test_a_receiver_switched_off_for_a_night_gets_its_message_in_the_morning(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """The night is not waited for: the parked delivery's first attempt is moved 10 hours back while the receiver
    is still off, one more attempt fails, then the receiver is back. Under the default retry window the message is
    delivered and acknowledged; with the old 300 s (HUB_DELIVERY_RETRY_SECONDS=300 in this test's environment)
    it became a dead letter."""
    defaults = HubSettings.model_fields
    settings: dict[str, Any] = {
        name: os.environ.get(name) or str(defaults[field].default)
        for name, field in (
            ("HUB_DELIVERY_RETRY_SECONDS", "delivery_retry_seconds"),
            ("HUB_DELIVERY_BASE_DELAY_SECONDS", "delivery_base_delay_seconds"),
            ("HUB_DELIVERY_MAX_DELAY_SECONDS", "delivery_max_delay_seconds"),
        )
    }
    off = {"messaging-receiver"}

    def behaviour(receiver: str, _: MessageFacts) -> Reply:
        return Reply(status=503) if receiver in off else Reply()

    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers,
        workdir=tmp_path,
        topic_prefix="night.",
        behaviour=behaviour,
        **settings,
    ) as hub:
        stream = Stream(hub, ["messaging-receiver"], patients=1, per_patient=1, seed=11)
        await stream.send()
        (message,) = stream.all
        engine = connect_database(hub.process.env["HUB_DATABASE_URL"])  # the hub's own database
        try:
            async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
                await eventually(lambda: _failed_attempts(client, message.tracking_id, 1), timeout=60)
                await _night_passed(engine, "messaging-receiver", hours=10)  # still off all night
                # one more try in the night: failed, and (with a window shorter than the night) given up
                await eventually(lambda: _tried_again_or_given_up(client, message.tracking_id), timeout=60)
                off.clear()  # the practice opens in the morning
                await _retry_now(engine, "messaging-receiver")
                record = await eventually(
                    lambda: _status(client, message.tracking_id, "acknowledged", "failed"), timeout=60
                )
                steps = [s["step"] for s in record["timeline"]]
                assert "delivery-failed" not in steps, record["timeline"]
                assert record["status"] == "acknowledged"
                assert (await client.get("/api/dead-letters")).json()["dead_letters"] == []
        finally:
            await engine.dispose()
        assert stream.arrivals("messaging-receiver") == [message.message_id]
        assert from_the_hub(hub, message.message_id) == []  # nothing failed: the sender was told nothing


async def _night_passed(engine: Any, receiver: str, *, hours: float) -> None:
    """The receiver's parked delivery was first tried `hours` ago, and its next try is due now."""
    async with writing(engine) as connection:
        changed = await connection.execute(
            parked.update()
            .where(parked.c.receiver == receiver)
            .values(first_attempt_at=parked.c.first_attempt_at - hours * 3600, next_attempt_at=time.time())
        )
        assert changed.rowcount == 1


async def _retry_now(engine: Any, receiver: str) -> None:
    async with writing(engine) as connection:
        await connection.execute(
            parked.update().where(parked.c.receiver == receiver).values(next_attempt_at=time.time())
        )


async def _with_step(client: httpx.AsyncClient, tracking_id: str, step: str) -> list[dict[str, Any]] | None:
    steps = await timeline(client, tracking_id)
    return steps if any(s["step"] == step for s in steps) else None


async def _failed_attempts(client: httpx.AsyncClient, tracking_id: str, n: int) -> bool:
    steps = await timeline(client, tracking_id)
    return len([s for s in steps if s["step"] == "delivery-attempt-failed"]) >= n


async def _tried_again_or_given_up(client: httpx.AsyncClient, tracking_id: str) -> bool:
    steps = [s["step"] for s in await timeline(client, tracking_id)]
    return steps.count("delivery-attempt-failed") >= 2 or "delivery-failed" in steps


async def _status(client: httpx.AsyncClient, tracking_id: str, *statuses: str) -> dict[str, Any] | None:
    record: dict[str, Any] = (await client.get(f"/api/messages/{tracking_id}")).json()
    return record if record.get("status") in statuses else None
