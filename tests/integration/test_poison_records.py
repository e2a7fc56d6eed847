"""One message the hub cannot handle stops nothing: good messages sent between messages that broke the validator
(a ``Bundle.timestamp`` of ``"T"`` or ``"2026T"``, a period at the ends of the calendar), messages with values a
database refuses, and an ingress record whose handling raises (headers that are not UTF-8) all end
acknowledged; each bad one ends rejected, with its reason in its tracking record."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from hub.broker.clients import make_producer
from hub.broker.records import IngressRecord
from tests.integration.hubtest import (
    HubUnderTest,
    eventually,
    message_status,
    post_message,
    stin_template,
    wait_for_status,
)
from tests.integration.hubtest import fresh_message as fresh

pytestmark = pytest.mark.integration

SENDER = "herlev-hjerte"


def _timestamp(value: str) -> Callable[[dict[str, Any]], str]:
    def change(bundle: dict[str, Any]) -> str:
        bundle["timestamp"] = value
        return "Bundle.timestamp"

    return change


def _period(start: str, end: str) -> Callable[[dict[str, Any]], str]:
    def change(bundle: dict[str, Any]) -> str:
        for entry in bundle["entry"]:
            if entry["resource"]["resourceType"] == "Encounter":
                entry["resource"]["period"] = {"start": start, "end": end}
        return "period"

    return change


# inputs that made the validator raise, and values no PostgreSQL column takes (a 5000-character id, NULs)
BAD: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("timestamp T", _timestamp("T")),
    ("timestamp 2026T", _timestamp("2026T")),
    (
        "period before year 1 in UTC, ending before it starts",
        _period("0001-01-02T00:00:00+14:00", "0001-01-01T00:00:00+14:00"),
    ),
    ("timestamp with NULs", _timestamp("2026\x00-01-01T\x00")),
]
# valid messages that made the validator raise (its check of a period's order): they go through like any other
ONCE_POISON: list[Callable[[dict[str, Any]], str]] = [
    _period("0001-01-01T00:00:00+14:00", "2022-12-18T09:45:30+02:00"),
    _period("2022-12-07T12:00:00+02:00", "9999-12-31T23:59:59-14:00"),
]


async def test_good_messages_between_poison_ones_are_all_acknowledged(
    hub: HubUnderTest, api: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    template = stin_template(example_paths)
    token = hub.token(SENDER)
    good: list[str] = []
    bad: list[tuple[str, str, str]] = []  # (what, tracking id, where the fault is)

    async def send_good() -> None:
        response = await post_message(api, fresh(template), token=token)
        assert response.status_code == 202, response.text
        good.append(response.headers["X-Hub-Tracking-Id"])

    await send_good()
    for what, change in BAD:
        bundle = fresh(template)
        where = change(bundle)
        response = await post_message(api, bundle, token=token)
        assert response.status_code == 202, f"{what}: {response.text}"
        bad.append((what, response.headers["X-Hub-Tracking-Id"], where))
        await send_good()
    for change in ONCE_POISON:
        bundle = fresh(template)
        change(bundle)
        response = await post_message(api, bundle, token=token)
        assert response.status_code == 202, response.text
        good.append(response.headers["X-Hub-Tracking-Id"])
    long_id = fresh(template, header_id="x" * 5000)  # an id no column holds; rejected (ids have 64 characters)
    response = await post_message(api, long_id, token=token)
    assert response.status_code == 202, response.text
    bad.append(("a 5000-character MessageHeader.id", response.headers["X-Hub-Tracking-Id"], "id"))
    await send_good()

    # a record on the ingress topic whose handling raises: its connector header is not UTF-8
    poison = IngressRecord(
        tracking_id=str(uuid.uuid4()),
        sender_sor=hub.register.by_id(SENDER).sor,  # type: ignore[union-attr]
        received_at=datetime.now(UTC).isoformat(),
        connector="kafka",
        raw=orjson.dumps(fresh(template)),
        key=b"2509479989",
    )
    headers = [(k, v) if k != "hub-connector" else (k, b"\xff\xfe") for k, v in poison.headers()]
    consumer = AIOKafkaConsumer(bootstrap_servers=hub.bootstrap_servers)
    await consumer.start()
    dead_letters = [TopicPartition(hub.topics.dead_letters, p) for p in range(4)]
    producer = make_producer(hub.bootstrap_servers, max_request_size=1024 * 1024)
    await producer.start()
    try:
        before: int = sum((await consumer.end_offsets(dead_letters)).values())
        await producer.send_and_wait(hub.topics.ingress, value=poison.raw, key=poison.key, headers=headers)
        await send_good()
        await send_good()

        for tracking_id in good:
            await wait_for_status(api, tracking_id, "acknowledged", timeout=90)

        for what, tracking_id, where in bad:
            try:
                record = await wait_for_status(api, tracking_id, "rejected", "failed")
            except AssertionError:
                raise AssertionError(f"{what}: {await message_status(api, tracking_id)}") from None
            assert record["status"] == "rejected", (what, record)
            issues = record["outcome"]["issue"]
            assert any(where in e for issue in issues for e in issue.get("expression", [])), (what, issues)
            assert all(issue["code"] != "exception" for issue in issues), (what, issues)  # a fault, not a crash

        record = await wait_for_status(api, poison.tracking_id, "rejected", "failed")
        (issue,) = record["outcome"]["issue"]
        assert issue["code"] == "exception"
        assert "the hub could not process this message: UnicodeDecodeError" in issue["diagnostics"]
        assert [s["step"] for s in record["timeline"]][:2] == ["received", "rejected"]

        async def dead_lettered() -> bool:
            offsets: dict[TopicPartition, int] = await consumer.end_offsets(dead_letters)
            return sum(offsets.values()) > before

        assert await eventually(dead_lettered)
    finally:
        await producer.stop()
        await consumer.stop()

    # its sender was answered like for any rejected message
    poison_id = orjson.loads(poison.raw)["entry"][0]["resource"]["id"]
    assert await eventually(
        lambda: [
            m
            for m in hub.receivers.received.get(SENDER, [])
            if m.facts.is_acknowledgement and m.facts.response and m.facts.response.identifier == poison_id
        ]
    )
    ready = await api.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["workers"] == "ok"
    metrics = (await api.get("/metrics")).text
    assert 'hub_poison_records_total{worker="ingress"} 1.0' in metrics, metrics
