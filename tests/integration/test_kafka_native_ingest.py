"""A hospital integration producing straight to the ingress topic, with the documented record contract."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from connectors.kafka_producer import publish_message
from hub.broker.clients import make_producer
from hub.broker.records import IngressRecord
from hub.simulate.generator import MessageGenerator
from tests.integration.hubtest import HubUnderTest, eventually, wait_for_status

pytestmark = pytest.mark.integration


async def test_kafka_native_message_is_delivered_and_an_unknown_sender_is_dead_lettered(
    hub: HubUnderTest, api: httpx.AsyncClient
) -> None:
    hospital, municipality = hub.register.by_id("herlev-hjerte"), hub.register.by_id("forward-receiver")
    assert hospital is not None and municipality is not None
    generator = MessageGenerator(seed=21)
    good = generator.hospital_notification(sender=hospital.ref, receiver=municipality.ref, now=datetime.now(UTC))
    stranger = generator.hospital_notification(sender=hospital.ref, receiver=municipality.ref, now=datetime.now(UTC))

    consumer = AIOKafkaConsumer(bootstrap_servers=hub.bootstrap_servers)
    await consumer.start()
    dead_letters = [TopicPartition(hub.topics.dead_letters, p) for p in range(4)]
    producer = make_producer(hub.bootstrap_servers, max_request_size=1024 * 1024)
    await producer.start()
    try:
        before: dict[TopicPartition, int] = await consumer.end_offsets(dead_letters)
        tracking_id = await publish_message(producer, hub.topics.ingress, orjson.dumps(good), sender_sor=hospital.sor)
        # a producer that does not use the helper and names a sender the hub does not know
        forged = IngressRecord(
            tracking_id=str(uuid.uuid4()),
            sender_sor="111111111111111",
            received_at=datetime.now(UTC).isoformat(),
            connector="kafka",
            raw=orjson.dumps(stranger),
        )
        await producer.send_and_wait(hub.topics.ingress, value=forged.raw, key=b"x", headers=forged.headers())
        unknown = forged.tracking_id
        record = await wait_for_status(api, tracking_id, "acknowledged")
        assert record["connector"] == "kafka"
        rejected = await wait_for_status(api, unknown, "rejected")
        assert "not in the endpoint register" in str(rejected["outcome"])

        async def dead_lettered() -> bool:
            after: dict[TopicPartition, int] = await consumer.end_offsets(dead_letters)
            return sum(after.values()) > sum(before.values())

        assert await eventually(dead_lettered)
    finally:
        await producer.stop()
        await consumer.stop()
    stranger_id = stranger["entry"][0]["resource"]["id"]
    assert all(m.facts.message_id != stranger_id for ms in hub.receivers.received.values() for m in ms)
