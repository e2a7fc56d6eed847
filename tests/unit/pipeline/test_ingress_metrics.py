"""The ingress worker counts each message it handled once it published what the message became: accepted,
or rejected with the rule it broke, by connector; and how long validating them took. A batch whose publishing
fails counts nothing (it is handled again)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.broker.records import IngressRecord
from hub.broker.topics import Topics
from hub.deliver.ledger import KeptAcknowledgement
from hub.observe.metrics import REGISTRY
from hub.pipeline.ingress import IngressWorker
from hub.validate.pool import InProcess
from hub.validate.validator import Validator
from tests.memory_workers import HOSPITAL_SOR, two_organisations

TOPICS = Topics("t.")


@dataclass(frozen=True)
class Consumed:
    value: bytes
    headers: Sequence[tuple[str, bytes]]
    key: bytes | None = b"k"
    topic: str = TOPICS.ingress
    partition: int = 0
    offset: int = 0


class Ledger:
    async def keep_acknowledgements(self, kept: Sequence[KeptAcknowledgement]) -> None:
        pass

    async def acknowledgements_for(self, asked: Sequence[tuple[str, str]]) -> dict[Any, Any]:
        return {}


@dataclass
class Publisher:
    broken: bool = False
    sent: list[Any] = field(default_factory=list)

    async def send_all(self, records: Sequence[Any]) -> None:
        if self.broken:
            raise ConnectionError("the broker is away")
        self.sent.extend(records)

    async def send(self, topic: str, *, key: bytes, value: bytes, headers: Any = None) -> Any:
        raise AssertionError("the ingress worker sends a batch at a time")

    async def send_and_wait(self, topic: str, *, key: bytes, value: bytes, headers: Any = None) -> None:
        raise AssertionError("the ingress worker sends a batch at a time")


def record(bundle: dict[str, Any], *, connector: str) -> Consumed:
    """The bundle as a new message (new MessageHeader.id, and all that names it), as `connector` put it on the
    ingress topic."""
    fresh = copy.deepcopy(bundle)
    header = fresh["entry"][0]["resource"]
    old, new = header["id"], str(uuid.uuid4())
    header["id"] = new
    fresh["entry"][0]["fullUrl"] = fresh["entry"][0]["fullUrl"].replace(old, new)
    for entry in fresh["entry"]:
        for target in entry["resource"].get("target", []):
            target["reference"] = target["reference"].replace(old, new)
    incoming = IngressRecord(str(uuid.uuid4()), HOSPITAL_SOR, "2026-12-06T10:00:00+00:00", connector, b"")
    return Consumed(orjson.dumps(fresh), incoming.headers())


@pytest.fixture(scope="module")
def template(example_paths: list[Path]) -> dict[str, Any]:
    bundle: dict[str, Any] = orjson.loads(next(p for p in example_paths if "a5e5b880" in p.name).read_bytes())
    return bundle


def worker(publisher: Publisher) -> IngressWorker:
    return IngressWorker(
        validation=InProcess(Validator(max_bytes=1024 * 1024)),
        register=two_organisations(),
        ledger=Ledger(),  # type: ignore[arg-type]
        publisher=publisher,
        topics=TOPICS,
    )


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def without_patient_identifier(bundle: dict[str, Any]) -> dict[str, Any]:
    broken = copy.deepcopy(bundle)
    patient = next(e["resource"] for e in broken["entry"] if e["resource"]["resourceType"] == "Patient")
    del patient["identifier"]
    return broken


async def test_accepted_and_rejected_messages_are_counted_with_their_rule(template: dict[str, Any]) -> None:
    before = {
        "mllp": sample("hub_messages_received_total", connector="mllp", outcome="accepted"),
        "kafka": sample("hub_messages_received_total", connector="kafka", outcome="rejected"),
        "rule": sample("hub_messages_rejected_total", rule="required/Patient"),
        "timed": sample("hub_validation_seconds_count"),
    }
    batch = [
        record(template, connector="mllp"),
        record(template, connector="mllp"),
        record(without_patient_identifier(template), connector="kafka"),
    ]
    await worker(Publisher()).handle(batch)
    assert sample("hub_messages_received_total", connector="mllp", outcome="accepted") == before["mllp"] + 2
    assert sample("hub_messages_received_total", connector="kafka", outcome="rejected") == before["kafka"] + 1
    assert sample("hub_messages_rejected_total", rule="required/Patient") == before["rule"] + 1
    assert sample("hub_validation_seconds_count") == before["timed"] + 3


async def test_a_sender_the_plan_refuses_is_counted_rejected(template: dict[str, Any]) -> None:
    """A Kafka-native record naming another sender than its SOR header passes validation, and planning rejects
    it: counted under the sender check's rule."""
    before = sample("hub_messages_rejected_total", rule="security/MessageHeader")
    other = record(template, connector="kafka")
    headers = [(k, b"953741000016009" if k == "hub-sender-sor" else v) for k, v in other.headers]
    await worker(Publisher()).handle([Consumed(other.value, headers)])
    assert sample("hub_messages_rejected_total", rule="security/MessageHeader") == before + 1


async def test_nothing_is_counted_when_publishing_fails(template: dict[str, Any]) -> None:
    before = sample("hub_messages_received_total", connector="http", outcome="accepted")
    with pytest.raises(ConnectionError):
        await worker(Publisher(broken=True)).handle([record(template, connector="http")])
    assert sample("hub_messages_received_total", connector="http", outcome="accepted") == before
