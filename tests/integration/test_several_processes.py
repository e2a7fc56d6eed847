"""Several hub processes in one consumer group on one PostgreSQL, as production scales out.

Each test asserts what an operator needs: every accepted message delivered to each of its receivers, none
pushed twice unless a process was killed (at-least-once: a process killed after a push and before the push
was recorded leaves it to be pushed again, with the same Idempotency-Key), order per receiver and patient
kept, and every process's /api/messages telling the same totals. Periodic work (draining a receiver's parked
deliveries, the acknowledgement watch, the retention purge) runs in one process at a time, under a lease.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.broker.embedded import EmbeddedBroker
from hub.domain.message import MessageFacts
from hub.simulate.receivers import Reply
from tests.integration.hubtest import HubUnderTest, eventually, running_hubs
from tests.integration.reliability import Stream, report

RECEIVERS = ["plejecenter-herlev", "forward-receiver", "messaging-receiver"]


@pytest.fixture(autouse=True)
def on_postgresql(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--database") != "postgresql":
        pytest.skip("several hub processes share a PostgreSQL in production; run with --database postgresql")


async def _totals(hubs: list[HubUnderTest]) -> list[dict[str, Any]]:
    """What each process's operator API says: how many of the hospital's messages (the receivers'
    acknowledgements are messages too), and how many of them acknowledged."""
    answers = []
    async with httpx.AsyncClient(timeout=30) as client:
        for hub in hubs:
            sent: dict[str, str | int] = {"limit": 1, "sender": "herlev-hjerte"}
            overview = (await client.get(f"{hub.url}/api/messages", params=sent)).json()
            acknowledged = (
                await client.get(f"{hub.url}/api/messages", params={**sent, "status": "acknowledged"})
            ).json()
            answers.append({"total": overview["total"], "acknowledged": acknowledged["total"]})
    return answers


async def _all_acknowledged(hubs: list[HubUnderTest], expected: int) -> bool:
    return all(t == {"total": expected, "acknowledged": expected} for t in await _totals(hubs))


@pytest.mark.parametrize("processes", [2, 3])
async def test_a_receiver_down_during_a_stream_then_back(
    processes: int, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    down = {"plejecenter-herlev"}

    def behaviour(receiver: str, _: MessageFacts) -> Reply:
        return Reply(status=503) if receiver in down else Reply()

    async with running_hubs(
        processes,
        bootstrap_servers=broker.bootstrap_servers,
        workdir=tmp_path,
        topic_prefix=f"scale{processes}.",
        behaviour=behaviour,
        HUB_DELIVERY_RETRY_SECONDS="600",
        HUB_VALIDATION_PROCESSES="0",
    ) as hubs:
        stream = Stream(hubs[0], RECEIVERS, patients=12, per_patient=25)
        await stream.send()
        others = [r for r in RECEIVERS if r not in down]
        await eventually(
            lambda: all(
                set(stream.arrivals(r)) >= {m.message_id for m in stream.all if m.receiver == r} for r in others
            ),
            timeout=180,
        )
        assert stream.arrivals("plejecenter-herlev") == []

        down.clear()
        await eventually(stream.delivered_everything, timeout=240)
        await eventually(lambda: _all_acknowledged(hubs, len(stream.all)), timeout=240, interval=2)
        tally = stream.tally()
        report(f"receiver down for a 300-message stream, {processes} hub processes", tally)
        assert tally["lost"] == 0 and tally["delivered"] == 300
        assert tally["delivered_twice"] == 0
        assert stream.out_of_order() == []


async def test_acknowledgement_timeouts_deliver_again_once_with_two_processes(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    def behaviour(receiver: str, _: MessageFacts) -> Reply:
        return Reply(acknowledge=receiver != "plejecenter-herlev")

    async with running_hubs(
        2,
        bootstrap_servers=broker.bootstrap_servers,
        workdir=tmp_path,
        topic_prefix="scaleack.",
        behaviour=behaviour,
        HUB_ACKNOWLEDGEMENT_TIMEOUT_SECONDS="1",
        HUB_ACKNOWLEDGEMENT_SCAN_SECONDS="0.3",
        HUB_ACKNOWLEDGEMENT_REDELIVERIES="1",
        HUB_VALIDATION_PROCESSES="0",
    ) as hubs:
        stream = Stream(hubs[0], ["plejecenter-herlev", "forward-receiver"], patients=4, per_patient=4)
        await stream.send()
        silent = [m for m in stream.all if m.receiver == "plejecenter-herlev"]

        async def flagged_twice() -> bool:
            async with httpx.AsyncClient(base_url=hubs[1].url, timeout=30) as client:
                for message in silent:
                    timeline = (await client.get(f"/api/messages/{message.tracking_id}")).json()["timeline"]
                    if sum(1 for s in timeline if s["step"] == "acknowledgement-overdue") < 2:
                        return False
            return True

        await eventually(flagged_twice, timeout=120, interval=0.5)
        await asyncio.sleep(2.0)  # rounds of both watches after the last flag: none may deliver again
        for message in silent:
            assert stream.arrivals("plejecenter-herlev").count(message.message_id) == 2, message.message_id
        async with httpx.AsyncClient(timeout=30) as client:
            for hub in hubs:
                overdue = (await client.get(f"{hub.url}/api/messages", params={"overdue": "true"})).json()
                assert overdue["total"] == len(silent)


async def test_one_of_three_processes_killed_mid_stream(broker: EmbeddedBroker, tmp_path: Path) -> None:
    async with running_hubs(
        3,
        bootstrap_servers=broker.bootstrap_servers,
        workdir=tmp_path,
        topic_prefix="scalekill.",
        HUB_DELIVERY_RETRY_SECONDS="600",
        HUB_VALIDATION_PROCESSES="0",
    ) as hubs:
        stream = Stream(hubs[0], RECEIVERS, patients=10, per_patient=30)
        accepted: asyncio.Queue[Any] = asyncio.Queue()
        sending = asyncio.create_task(stream.send(accepted=accepted))
        for _ in range(100):
            await accepted.get()
        hubs[2].process.kill()  # SIGKILL of one process, mid-stream; the other two take its partitions
        await sending
        await eventually(stream.delivered_everything, timeout=240)
        survivors = hubs[:2]
        await eventually(lambda: _all_acknowledged(survivors, len(stream.all)), timeout=240, interval=2)
        tally = stream.tally()
        report("one of three hub processes SIGKILLed mid-stream", tally)
        assert tally["lost"] == 0 and tally["delivered"] == 300
        assert stream.out_of_order() == []
