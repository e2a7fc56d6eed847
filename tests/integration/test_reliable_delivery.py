"""Delivery under faults, with real hub processes, the real embedded broker and real HTTP receivers.

Every scenario ends with the same count: every accepted message delivered, none lost, and per receiver
and patient in the order accepted.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.broker.embedded import EmbeddedBroker
from hub.domain.message import MessageFacts
from hub.simulate.receivers import Reply
from tests.integration.hubtest import HubUnderTest, eventually, running_hub
from tests.integration.reliability import Stream, report, send_until_accepted

pytestmark = pytest.mark.integration

MUNICIPALITIES = ["plejecenter-herlev", "forward-receiver", "messaging-receiver"]


def scripted(script: dict[str, Callable[[int], Reply]]) -> Callable[[str, MessageFacts], Reply]:
    """A behaviour answering the n-th push of each message to a receiver by the receiver's script."""
    pushes: Counter[tuple[str, str | None]] = Counter()

    def behaviour(receiver: str, facts: MessageFacts) -> Reply:
        pushes[(receiver, facts.message_id)] += 1
        rule = script.get(receiver)
        return rule(pushes[(receiver, facts.message_id)]) if rule else Reply()

    return behaviour


async def all_acknowledged(hub: HubUnderTest, stream: Stream) -> bool:
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        for message in stream.all:
            record = (await client.get(f"/api/messages/{message.tracking_id}")).json()
            if record.get("status") != "acknowledged":
                return False
    return True


async def test_receiver_down_during_a_stream_then_back(broker: EmbeddedBroker, tmp_path: Path) -> None:
    down = {"plejecenter-herlev"}

    def behaviour(receiver: str, _: MessageFacts) -> Reply:
        return Reply(status=503) if receiver in down else Reply()

    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers,
        workdir=tmp_path,
        topic_prefix="down.",
        behaviour=behaviour,
        HUB_DELIVERY_RETRY_SECONDS="600",
    ) as hub:
        stream = Stream(hub, MUNICIPALITIES, patients=20, per_patient=50)
        await stream.send()
        others = [r for r in MUNICIPALITIES if r not in down]
        # the others get everything while plejecenter-herlev is still down
        await eventually(
            lambda: all(
                set(stream.arrivals(r)) >= {m.message_id for m in stream.all if m.receiver == r} for r in others
            ),
            timeout=180,
        )
        assert stream.arrivals("plejecenter-herlev") == []
        async with httpx.AsyncClient(base_url=hub.url) as client:
            circuits = {o["id"]: o["delivery"] for o in (await client.get("/api/receivers")).json()["organisations"]}
        assert circuits["plejecenter-herlev"]["circuit"] == "open"
        assert circuits["plejecenter-herlev"]["parked"] > 0
        assert circuits["forward-receiver"]["circuit"] == "closed"

        down.clear()
        await eventually(stream.delivered_everything, timeout=240)
        await eventually(lambda: all_acknowledged(hub, stream), timeout=240, interval=2)
        tally = stream.tally()
        report("receiver down for a 1,000-message stream", tally)
        assert tally["lost"] == 0 and tally["delivered"] == 1000
        assert tally["delivered_twice"] == 0
        assert stream.out_of_order() == []


async def test_errors_retry_after_timeouts_and_slow_receivers(broker: EmbeddedBroker, tmp_path: Path) -> None:
    behaviour = scripted(
        {
            "plejecenter-herlev": lambda n: Reply(status=500) if n <= 2 else Reply(),
            "forward-receiver": lambda n: Reply(status=429, retry_after=1) if n == 1 else Reply(),
            "messaging-receiver": lambda n: Reply(delay=3.0) if n == 1 else Reply(),  # first push hangs
            "messaging-sender": lambda n: Reply(delay=0.8),  # always slow, within the timeout
        }
    )
    receivers = [*MUNICIPALITIES, "messaging-sender"]
    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers,
        workdir=tmp_path,
        topic_prefix="faults.",
        behaviour=behaviour,
        HUB_DELIVERY_TIMEOUT_SECONDS="1.5",
        HUB_DELIVERY_RETRY_SECONDS="60",
    ) as hub:
        stream = Stream(hub, receivers, patients=4, per_patient=8)
        await stream.send()
        await eventually(stream.delivered_everything, timeout=120)
        await eventually(lambda: all_acknowledged(hub, stream), timeout=120, interval=1)
        async with httpx.AsyncClient(base_url=hub.url) as client:
            timelines = {
                m.message_id: (m.receiver, (await client.get(f"/api/messages/{m.tracking_id}")).json())
                for m in stream.all
            }
    for receiver, record in timelines.values():
        failed = [s["detail"] for s in record["timeline"] if s["step"] == "delivery-attempt-failed"]
        if receiver == "plejecenter-herlev":
            assert [f["error"] for f in failed] == ["HTTP 500", "HTTP 500"]
            assert record["receivers"][0]["attempts"] == 3
        elif receiver == "forward-receiver":
            assert [f["error"] for f in failed] == ["HTTP 429"]
            assert failed[0]["retry_in"] >= 1.0  # Retry-After honoured
        elif receiver == "messaging-receiver":
            assert [f["error"] for f in failed] == ["no answer within the timeout"]
        else:
            assert failed == []
    tally = stream.tally()
    report("500, 429 + Retry-After, timeout, slow", tally)
    assert tally["lost"] == 0
    # only a push that timed out on the hub's side but was taken by the receiver can arrive twice,
    # with the same Idempotency-Key so the receiver can tell
    twice = {
        r.facts.message_id
        for r in hub.receivers.received.get("messaging-receiver", [])
        if Counter(x.facts.message_id for x in hub.receivers.received["messaging-receiver"])[r.facts.message_id] > 1
    }
    assert tally["delivered_twice"] == len(twice)
    for received in itertools.chain.from_iterable(hub.receivers.received.values()):
        assert received.idempotency_key == received.facts.message_id
    assert stream.out_of_order() == []


async def test_dead_letters_are_listed_and_redriven(broker: EmbeddedBroker, tmp_path: Path) -> None:
    broken = {"plejecenter-herlev": Reply(status=400), "forward-receiver": Reply(status=503)}

    def behaviour(receiver: str, _: MessageFacts) -> Reply:
        return broken.get(receiver, Reply())

    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers,
        workdir=tmp_path,
        topic_prefix="dead.",
        behaviour=behaviour,
        HUB_DELIVERY_RETRY_SECONDS="2",
    ) as hub:
        stream = Stream(hub, ["plejecenter-herlev", "forward-receiver"], patients=2, per_patient=4)
        await stream.send()
        async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:

            async def dead(receiver: str) -> list[dict[str, Any]]:
                found = (await client.get("/api/dead-letters", params={"receiver": receiver})).json()
                return list(found["dead_letters"])

            refused = await eventually(lambda: _at_least(dead("plejecenter-herlev"), 4), timeout=60)
            assert {d["reason"] for d in refused} == {"HTTP 400"}  # not retried: a 400 will not change
            assert all(len(d["attempts"]) == 1 for d in refused)
            expired = await eventually(lambda: _at_least(dead("forward-receiver"), 4), timeout=60)
            assert all(d["reason"].startswith("not delivered within 2 s") for d in expired)
            # the window counts from when a delivery was parked: the oldest was retried, the ones queued
            # behind it (parked when the circuit opened) ran out of window while it was being retried
            assert max(len(d["attempts"]) for d in expired) >= 2
            failed = (await client.get(f"/api/messages/{refused[0]['tracking_id']}")).json()
            assert failed["status"] == "failed"

            broken.clear()
            one = await client.post(f"/api/dead-letters/{refused[0]['id']}/redrive")
            assert one.status_code == 200
            assert (await client.post(f"/api/dead-letters/{refused[0]['id']}/redrive")).status_code == 404
            rest = await client.post("/api/dead-letters/redrive", params={"receiver": "plejecenter-herlev"})
            assert len(rest.json()["redriven"]) == 3
            await client.post("/api/dead-letters/redrive", params={"receiver": "forward-receiver"})
            await eventually(stream.delivered_everything, timeout=60)
            await eventually(lambda: all_acknowledged(hub, stream), timeout=60, interval=1)
            record = (await client.get(f"/api/messages/{refused[0]['tracking_id']}")).json()
            steps = [s["step"] for s in record["timeline"]]
            assert steps.index("delivery-failed") < steps.index("redriven") < steps.index("delivered")
            assert (await client.get("/api/dead-letters")).json()["dead_letters"] == []
            metrics = (await client.get("/metrics")).text
            assert "hub_dead_letters 0.0" in metrics
        tally = stream.tally()
        report("dead letters redriven", tally)
        assert tally["lost"] == 0 and tally["delivered_twice"] == 0
        assert stream.out_of_order() == []


async def _at_least(found: Any, n: int) -> list[dict[str, Any]] | None:
    items: list[dict[str, Any]] = await found
    return items if len(items) >= n else None


async def test_resent_message_is_recognised_and_answered_with_the_same_acknowledgement(hub: HubUnderTest) -> None:
    stream = Stream(hub, ["forward-receiver"], patients=1, per_patient=1, seed=99)
    (message,) = stream.all
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        first = await send_until_accepted(client, message.raw, hub.token("herlev-hjerte"))
        message.tracking_id = first
        await eventually(lambda: all_acknowledged(hub, stream), timeout=60)
        again = await send_until_accepted(client, message.raw, hub.token("herlev-hjerte"))  # same bytes
        renamed = message.raw.replace(b'"id":"', b'"id":"x', 1)  # Bundle.id is the first id: a new one
        assert renamed != message.raw
        third = await send_until_accepted(client, renamed, hub.token("herlev-hjerte"))
        for tracking_id in (again, third):
            record = await eventually(functools.partial(_acknowledged_and_delivered, client, tracking_id), timeout=60)
            delivered = next(s for s in record["timeline"] if s["step"] == "delivered")
            assert delivered["detail"]["duplicate"] is True
    answers = await eventually(
        lambda: (
            [
                r.facts
                for r in hub.receivers.received.get("herlev-hjerte", [])
                if r.facts.response and r.facts.response.identifier == message.message_id
            ]
            if len(
                [
                    r
                    for r in hub.receivers.received.get("herlev-hjerte", [])
                    if r.facts.response and r.facts.response.identifier == message.message_id
                ]
            )
            >= 3
            else None
        ),
        timeout=60,
    )
    assert len({a.message_id for a in answers}) == 1  # the same acknowledgement each time
    assert stream.arrivals("forward-receiver").count(message.message_id) == 1


async def _acknowledged_and_delivered(client: httpx.AsyncClient, tracking_id: str) -> dict[str, Any] | None:
    record: dict[str, Any] = (await client.get(f"/api/messages/{tracking_id}")).json()
    steps = [s["step"] for s in record.get("timeline", [])]
    return record if record.get("status") == "acknowledged" and "delivered" in steps else None


async def test_hub_killed_mid_stream_and_restarted(broker: EmbeddedBroker, tmp_path: Path) -> None:
    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers,
        workdir=tmp_path,
        topic_prefix="kill.",
        HUB_DELIVERY_RETRY_SECONDS="600",
    ) as hub:
        stream = Stream(hub, MUNICIPALITIES, patients=10, per_patient=30)
        accepted: asyncio.Queue[Any] = asyncio.Queue()
        sending = asyncio.create_task(stream.send(accepted=accepted))
        for _ in range(100):
            await accepted.get()
        hub.process.kill()  # SIGKILL, mid-stream
        await asyncio.sleep(1.0)
        await hub.process.start()
        await sending
        await eventually(stream.delivered_everything, timeout=240)
        await eventually(lambda: all_acknowledged(hub, stream), timeout=240, interval=2)
        tally = stream.tally()
        report("hub SIGKILLed mid-stream and restarted", tally)
        assert tally["lost"] == 0 and tally["delivered"] == 300
        # a receiver never gets again a message whose acknowledgement the hub had already accepted
        for receiver in MUNICIPALITIES:
            acknowledged_at = {m: at for m, at in hub.receivers.acknowledgements_sent.get(receiver, [])}
            for arrival in hub.receivers.received.get(receiver, []):
                earlier = acknowledged_at.get(arrival.facts.message_id or "")
                first = next(
                    r for r in hub.receivers.received[receiver] if r.facts.message_id == arrival.facts.message_id
                )
                if arrival is not first and earlier is not None:
                    assert arrival.at < earlier, f"{receiver} got {arrival.facts.message_id} again after acknowledging"
        assert stream.out_of_order() == []


async def test_broker_restarted_with_its_memory_lost(tmp_path: Path) -> None:
    async with EmbeddedBroker(log_file=tmp_path / "broker-1.log") as first_broker:
        port = first_broker.port
        async with running_hub(
            bootstrap_servers=first_broker.bootstrap_servers,
            workdir=tmp_path / "hub",
            topic_prefix="lost.",
            HUB_DELIVERY_RETRY_SECONDS="600",
        ) as hub:
            stream = Stream(hub, MUNICIPALITIES, patients=10, per_patient=20)
            accepted: asyncio.Queue[Any] = asyncio.Queue()
            sending = asyncio.create_task(stream.send(accepted=accepted))
            for _ in range(60):
                await accepted.get()
            # everything the broker held is gone (stopped in a thread: the receivers share this event loop)
            await asyncio.to_thread(first_broker.stop)
            second_broker = EmbeddedBroker(port=port, log_file=tmp_path / "broker-2.log")
            await second_broker.start()
            try:
                await sending
                await eventually(stream.delivered_everything, timeout=240)
                await eventually(lambda: all_acknowledged(hub, stream), timeout=240, interval=2)
            finally:
                tally = stream.tally()
                report("broker restarted, its memory lost", tally)
                await asyncio.to_thread(second_broker.stop)
            assert "recovering from the archive" in hub.process.log_tail(200_000)
    assert tally["lost"] == 0 and tally["delivered"] == 200
    assert tally["delivered_twice"] == 0
    assert stream.out_of_order() == []


async def test_graceful_shutdown_hands_back_what_is_in_flight(broker: EmbeddedBroker, tmp_path: Path) -> None:
    def behaviour(receiver: str, _: MessageFacts) -> Reply:
        return Reply(delay=0.5) if receiver == "plejecenter-herlev" else Reply()

    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers,
        workdir=tmp_path,
        topic_prefix="term.",
        behaviour=behaviour,
        HUB_SHUTDOWN_GRACE_SECONDS="2",
    ) as hub:
        stream = Stream(hub, ["plejecenter-herlev"], patients=2, per_patient=15)
        await stream.send()
        await eventually(lambda: len(stream.arrivals("plejecenter-herlev")) >= 3, timeout=60)
        assert await hub.process.terminate() == 0  # SIGTERM: finishes, commits and exits cleanly
        assert len(set(stream.arrivals("plejecenter-herlev"))) < 30
        await hub.process.start()
        await eventually(stream.delivered_everything, timeout=120)
        await eventually(lambda: all_acknowledged(hub, stream), timeout=120, interval=1)
        tally = stream.tally()
        report("SIGTERM mid-stream and restart", tally)
        assert tally["lost"] == 0
        assert tally["delivered_twice"] == 0  # pushes under way finished; the rest was handed back
        assert stream.out_of_order() == []


async def test_missing_acknowledgement_is_flagged_and_delivered_again(broker: EmbeddedBroker, tmp_path: Path) -> None:
    def behaviour(receiver: str, _: MessageFacts) -> Reply:
        return Reply(acknowledge=receiver != "plejecenter-herlev")

    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers,
        workdir=tmp_path,
        topic_prefix="overdue.",
        behaviour=behaviour,
        HUB_ACKNOWLEDGEMENT_TIMEOUT_SECONDS="1",
        HUB_ACKNOWLEDGEMENT_SCAN_SECONDS="0.3",
        HUB_ACKNOWLEDGEMENT_REDELIVERIES="1",
    ) as hub:
        stream = Stream(hub, ["plejecenter-herlev", "forward-receiver"], patients=1, per_patient=2)
        await stream.send()
        silent, answered = stream.all
        async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
            overdue = await eventually(lambda: _overdue(client), timeout=60)
            assert [m["tracking_id"] for m in overdue] == [silent.tracking_id]
            await eventually(lambda: stream.arrivals("plejecenter-herlev").count(silent.message_id) == 2, timeout=60)
            record = await eventually(lambda: _flagged_twice(client, silent.tracking_id), timeout=60)
            flags = [s for s in record["timeline"] if s["step"] == "acknowledgement-overdue"]
            assert [f["detail"]["delivered_again"] for f in flags] == [True, False]
            assert record["receivers"][0]["acknowledgement_overdue"] is True
            assert "hub_acknowledgements_overdue 1.0" in (await client.get("/metrics")).text
            assert (await client.get(f"/api/messages/{answered.tracking_id}")).json()["status"] == "acknowledged"
        repeated = [r for r in hub.receivers.received["plejecenter-herlev"] if r.facts.message_id == silent.message_id]
        assert {r.idempotency_key for r in repeated} == {silent.message_id}


async def _overdue(client: httpx.AsyncClient) -> list[dict[str, Any]] | None:
    found: list[dict[str, Any]] = (await client.get("/api/messages", params={"overdue": "true"})).json()["messages"]
    return found or None


async def _flagged_twice(client: httpx.AsyncClient, tracking_id: str) -> dict[str, Any] | None:
    record: dict[str, Any] = (await client.get(f"/api/messages/{tracking_id}")).json()
    flags = [s for s in record["timeline"] if s["step"] == "acknowledgement-overdue"]
    return record if len(flags) >= 2 else None
