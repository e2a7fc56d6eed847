"""The intake counts what it refuses, by connector; what it accepts is counted once validated (by the
ingress worker), so that each message is counted once."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from connectors.intake import Accepted, Intake, NotAccepting, Refused
from hub.broker.records import IngressRecord
from hub.observe.metrics import REGISTRY
from hub.simulate import MessageGenerator
from tests.mailbox_organisations import MAILBOX_HOSPITAL as HOSPITAL
from tests.mailbox_organisations import MAILBOX_MUNICIPALITY as MUNICIPALITY


def refused(connector: str) -> float:
    return REGISTRY.get_sample_value("hub_messages_received_total", {"connector": connector, "outcome": "refused"}) or 0


def accepted(connector: str) -> float:
    labels = {"connector": connector, "outcome": "accepted"}
    return REGISTRY.get_sample_value("hub_messages_received_total", labels) or 0


def message() -> bytes:
    generator = MessageGenerator(seed=3)
    bundle = generator.hospital_notification(
        sender=HOSPITAL.ref, receiver=MUNICIPALITY.ref, event="STIN", now=datetime.now(UTC)
    )
    return orjson.dumps(bundle)


async def take(intake: Intake, raw: bytes, connector: str) -> Accepted | Refused:
    return await intake.take(raw, sender_sor=HOSPITAL.sor, authenticated_as="the test", connector=connector)


async def test_refusals_are_counted_by_connector_and_acceptances_are_not() -> None:
    published: list[IngressRecord] = []

    async def publish(record: IngressRecord) -> None:
        published.append(record)

    intake = Intake(publish)
    before = {"http": refused("http"), "mllp": refused("mllp"), "accepted": accepted("http")}
    assert isinstance(await take(intake, b"not json", "http"), Refused)
    assert isinstance(await take(intake, message(), "http"), Accepted)
    stopping = Intake(publish, accepting=lambda: False)
    answer = await take(stopping, message(), "mllp")
    assert isinstance(answer, Refused) and isinstance(answer.error, NotAccepting)
    assert refused("http") == before["http"] + 1
    assert refused("mllp") == before["mllp"] + 1
    assert accepted("http") == before["accepted"]  # the ingress worker counts it, once it is validated
    assert len(published) == 1
