"""``/metrics`` of a real hub process counts the work as it happens: messages in by connector and outcome,
rejections by rule, validation time, delivery attempts and their outcomes by receiver, latencies to delivery
and to acknowledgement, parked deliveries, dead letters and redrives; and each consumer's lag.

The session's hub serves other tests too: what is compared is how much each series moved."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.broker.embedded import EmbeddedBroker
from hub.domain.message import MessageFacts
from hub.simulate.generator import MessageGenerator
from hub.simulate.receivers import Reply
from tests.integration.hubtest import HubUnderTest, eventually, post_message, running_hub, wait_for_status

pytestmark = pytest.mark.integration

Samples = Mapping[tuple[str, frozenset[tuple[str, str]]], float]
EVENT = "hospital-notification-message"


async def scrape(client: httpx.AsyncClient) -> Samples:
    answer = await client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def notification(hub: HubUnderTest, generator: MessageGenerator, receiver: str) -> dict[str, Any]:
    sender, to = hub.register.by_id("herlev-hjerte"), hub.register.by_id(receiver)
    assert sender is not None and to is not None
    return generator.hospital_notification(
        sender=sender.ref, receiver=to.ref, patient_cpr=generator.fictional_cpr(), event="STIN", now=datetime.now(UTC)
    )


def without_patient_identifier(bundle: dict[str, Any]) -> dict[str, Any]:
    """Invalid: the Patient (entry 1 of a HospitalNotification) has no CPR identifier."""
    broken = copy.deepcopy(bundle)
    patient = broken["entry"][1]["resource"]
    assert patient["resourceType"] == "Patient"
    del patient["identifier"]
    return broken


async def test_messages_deliveries_and_acknowledgements_are_counted(hub: HubUnderTest, api: httpx.AsyncClient) -> None:
    generator = MessageGenerator(seed=31)
    token = hub.token("herlev-hjerte")
    before = await scrape(api)

    valid = [notification(hub, generator, "plejecenter-herlev") for _ in range(3)]
    invalid = [without_patient_identifier(notification(hub, generator, "plejecenter-herlev")) for _ in range(2)]
    accepted = []
    for bundle in valid + invalid:
        answer = await post_message(api, bundle, token=token)
        assert answer.status_code == 202, answer.text
        accepted.append(answer.headers["X-Hub-Tracking-Id"])
    refused = await post_message(api, b'{"resourceType": "Bundle", "entry": [', token=token)
    assert refused.status_code == 400
    for tracking_id in accepted[:3]:
        await wait_for_status(api, tracking_id, "acknowledged")
    for tracking_id in accepted[3:]:
        await wait_for_status(api, tracking_id, "rejected")

    async def counted() -> Samples | None:
        after = await scrape(api)
        # each receiver's acknowledgement, through the hub's ingest, is delivered to the hospital
        done = moved(before, after, "hub_acknowledgement_latency_seconds_count", event=EVENT) >= 3
        return (
            after
            if done
            and moved(before, after, "hub_delivery_attempts_total", receiver="herlev-hjerte", outcome="delivered") >= 5
            else None
        )

    after = await eventually(counted, timeout=60)
    received = "hub_messages_received_total"
    # 3 valid messages and the 3 acknowledgements of them, all through HTTP
    assert moved(before, after, received, connector="http", outcome="accepted") == 6
    assert moved(before, after, received, connector="http", outcome="rejected") == 2
    assert moved(before, after, received, connector="http", outcome="refused") == 1
    assert moved(before, after, "hub_messages_rejected_total", rule="required/Patient") == 2
    assert moved(before, after, "hub_validation_seconds_count") == 8  # every accepted message, once
    attempts = "hub_delivery_attempts_total"
    assert moved(before, after, attempts, receiver="plejecenter-herlev", outcome="delivered") == 3
    # to the hospital: the 3 acknowledgements, and the hub's fatal-error acknowledgement of each rejection
    assert moved(before, after, attempts, receiver="herlev-hjerte", outcome="delivered") == 5
    assert moved(before, after, attempts, receiver="plejecenter-herlev", outcome="retry") == 0
    assert moved(before, after, "hub_delivery_latency_seconds_count", event=EVENT) == 3
    assert moved(before, after, "hub_delivery_latency_seconds_bucket", event=EVENT, le="+Inf") == 3
    assert moved(before, after, "hub_acknowledgement_latency_seconds_count", event=EVENT) == 3
    assert moved(before, after, "hub_acknowledgement_latency_seconds_bucket", event=EVENT, le="+Inf") == 3
    # the state, read at the scrape: each worker's consumer and its lag
    group = f"{hub.topics.prefix}hub"
    lags = {(dict(labels)["topic"], dict(labels)["group"]) for name, labels in after if name == "hub_consumer_lag"}
    assert {
        (hub.topics.ingress, f"{group}-ingress"),
        (hub.topics.outbox, f"{group}-delivery"),
        (hub.topics.events, f"{group}-recorder"),
    } <= lags
    assert value(after, "hub_dead_letters") == 0
    text = (await api.get("/metrics")).text
    for tracking_id in accepted:
        assert tracking_id not in text


async def test_retries_parking_dead_letters_and_redrives_are_counted(broker: EmbeddedBroker, tmp_path: Path) -> None:
    broken = {"plejecenter-herlev": Reply(status=400), "forward-receiver": Reply(status=503)}

    def behaviour(receiver: str, _: MessageFacts) -> Reply:
        return broken.get(receiver, Reply())

    async with running_hub(
        bootstrap_servers=broker.bootstrap_servers,
        workdir=tmp_path,
        topic_prefix="metrics.",
        behaviour=behaviour,
        HUB_DELIVERY_RETRY_SECONDS="2",
    ) as hub:
        generator = MessageGenerator(seed=32)
        async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
            before = await scrape(client)
            sent = [
                notification(hub, generator, "plejecenter-herlev"),
                notification(hub, generator, "forward-receiver"),
            ]
            for bundle in sent:
                answer = await post_message(client, bundle, token=hub.token("herlev-hjerte"))
                assert answer.status_code == 202, answer.text

            async def dead() -> Samples | None:
                after = await scrape(client)
                gone = [moved(before, after, "hub_dead_letters_total", receiver=r) for r in broken]
                return after if gone == [1, 1] and value(after, "hub_dead_letters") == 2 else None

            after = await eventually(dead, timeout=60)
            attempts = "hub_delivery_attempts_total"
            # a 400 will not change: one attempt, given up at once, never parked
            assert moved(before, after, attempts, receiver="plejecenter-herlev", outcome="dead-letter") == 1
            assert moved(before, after, "hub_deliveries_parked_total", receiver="plejecenter-herlev") == 0
            assert moved(before, after, "hub_delivery_retries_total", receiver="plejecenter-herlev") == 0
            # a 503 is retried from the parking lot until the retry window (2 s) is over
            assert moved(before, after, "hub_deliveries_parked_total", receiver="forward-receiver") == 1
            retries = moved(before, after, "hub_delivery_retries_total", receiver="forward-receiver")
            assert retries >= 1
            retried = moved(before, after, attempts, receiver="forward-receiver", outcome="retry")
            assert retried == retries  # the first attempt's and each retry's but the last
            assert moved(before, after, attempts, receiver="forward-receiver", outcome="dead-letter") == 1
            assert moved(before, after, attempts, receiver="forward-receiver", outcome="delivered") == 0

            sent_to = sorted(broken)
            broken.clear()
            redriven = await client.post("/api/dead-letters/redrive")
            assert len(redriven.json()["redriven"]) == 2

            async def delivered() -> Samples | None:
                now = await scrape(client)
                done = [moved(after, now, attempts, receiver=r, outcome="delivered") for r in sorted(sent_to)]
                return now if done == [1, 1] else None

            final = await eventually(delivered, timeout=60)
            assert moved(before, final, "hub_redrives_total") == 2
            assert value(final, "hub_dead_letters") == 0
            assert moved(after, final, "hub_delivery_latency_seconds_count", event=EVENT) == 2
