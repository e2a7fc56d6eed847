"""Helpers for the fault scenarios: a hospital that resends until accepted, and the tally of what arrived."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import orjson

from hub.simulate.generator import MessageGenerator
from tests.integration.hubtest import HubUnderTest, post_message


@dataclass
class Sent:
    receiver: str
    patient: str
    message_id: str
    raw: bytes
    tracking_id: str = ""


@dataclass
class Stream:
    """Messages from herlev-hjerte to `receivers`, `per_patient` for each of `patients` patients."""

    hub: HubUnderTest
    receivers: list[str]
    patients: int
    per_patient: int
    seed: int = 1
    messages: dict[str, list[Sent]] = field(default_factory=dict)  # patient -> in sending order

    def __post_init__(self) -> None:
        generator = MessageGenerator(seed=self.seed)
        hospital = self.hub.register.by_id("herlev-hjerte")
        assert hospital is not None
        now = datetime.now(UTC)
        index = 0
        for _ in range(self.patients):
            cpr = generator.fictional_cpr()
            for _ in range(self.per_patient):
                receiver_id = self.receivers[index % len(self.receivers)]
                receiver = self.hub.register.by_id(receiver_id)
                assert receiver is not None
                bundle = generator.hospital_notification(
                    sender=hospital.ref, receiver=receiver.ref, patient_cpr=cpr, event="STIN", now=now
                )
                self.messages.setdefault(cpr, []).append(
                    Sent(receiver_id, cpr, bundle["entry"][0]["resource"]["id"], orjson.dumps(bundle))
                )
                index += 1

    @property
    def all(self) -> list[Sent]:
        return [m for messages in self.messages.values() for m in messages]

    async def send(self, *, accepted: asyncio.Queue[Sent] | None = None) -> None:
        """Each patient's messages one after the other (resent until accepted), patients side by side."""
        async with httpx.AsyncClient(base_url=self.hub.url, timeout=60) as client:

            async def one_patient(messages: list[Sent]) -> None:
                for message in messages:
                    message.tracking_id = await send_until_accepted(
                        client, message.raw, self.hub.token("herlev-hjerte")
                    )
                    if accepted is not None:
                        accepted.put_nowait(message)

            await asyncio.gather(*(one_patient(m) for m in self.messages.values()))

    def arrivals(self, receiver: str) -> list[str]:
        """Message ids in the order the receiver's system got them (HTTP pushes that it took)."""
        ids = {m.message_id for m in self.all}
        return [
            r.facts.message_id or "" for r in self.hub.receivers.received.get(receiver, []) if r.facts.message_id in ids
        ]

    def delivered_everything(self) -> bool:
        return all(set(self.arrivals(r)) >= {m.message_id for m in self.all if m.receiver == r} for r in self.receivers)

    def tally(self) -> dict[str, int]:
        arrived = Counter(
            (receiver, message_id) for receiver in self.receivers for message_id in self.arrivals(receiver)
        )
        expected = {(m.receiver, m.message_id) for m in self.all}
        return {
            "accepted": len(expected),
            "delivered": sum(1 for key in expected if arrived[key] >= 1),
            "delivered_twice": sum(1 for key in expected if arrived[key] > 1),
            "lost": sum(1 for key in expected if arrived[key] == 0),
        }

    def out_of_order(self) -> list[str]:
        """Patients whose messages some receiver got in another order than they were accepted."""
        wrong = []
        for patient, messages in self.messages.items():
            for receiver in self.receivers:
                sent = [m.message_id for m in messages if m.receiver == receiver]
                seen: list[str] = []
                for message_id in self.arrivals(receiver):
                    if message_id in sent and message_id not in seen:
                        seen.append(message_id)
                if seen != sent:
                    wrong.append(f"{patient[:6]} at {receiver}")
        return wrong


async def send_until_accepted(client: httpx.AsyncClient, raw: bytes, token: str, *, attempts: int = 600) -> str:
    """What a MedCom sender does: send again (same MessageHeader.id) until the hub says accepted."""
    for _ in range(attempts):
        try:
            response = await post_message(client, raw, token=token)
        except httpx.TransportError:
            await asyncio.sleep(0.2)
            continue
        if response.status_code == 202:
            return response.headers["X-Hub-Tracking-Id"]
        if response.status_code >= 500:
            await asyncio.sleep(0.2)
            continue
        raise AssertionError(f"refused: {response.status_code} {response.text}")
    raise AssertionError("never accepted")


def report(scenario: str, tally: dict[str, int]) -> None:
    print(f"RELIABILITY | {scenario} | " + " | ".join(f"{k}={v}" for k, v in tally.items()))
