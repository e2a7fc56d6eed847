"""Topic settings against the real embedded broker (Tansu): topics are created with the configs the settings
give, and a start on existing topics weaker than the settings refuses, naming topic, setting and values.

Each test has topics of its own (a unique prefix), so the session's shared topics are left alone.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import IncompatibleBrokerVersion

from hub.broker import topics as topics_module
from hub.broker.embedded import EmbeddedBroker
from hub.broker.topic_plan import MIN_INSYNC_REPLICAS, NOT_REPORTED, PARTITIONS, RETENTION_MS, TopicSpec, TopicsRefused
from hub.broker.topics import Topics, ensure_topics

pytestmark = pytest.mark.integration

SEVEN_DAYS = 7 * 24 * 3600 * 1000


class Recorded:
    """Stands in for the topics module's logger: what it was told, by level."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append(("warning", event, fields))

    def error(self, event: str, **fields: Any) -> None:
        self.lines.append(("error", event, fields))

    def of(self, level: str) -> list[dict[str, Any]]:
        return [fields for at, _, fields in self.lines if at == level]


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    recorded = Recorded()
    monkeypatch.setattr(topics_module, "log", recorded)
    return recorded


def own_topics() -> Topics:
    return Topics(f"itest-settings-{uuid.uuid4().hex[:10]}.")


async def reported(bootstrap_servers: str, topics: Topics) -> dict[str, dict[str, str]]:
    """Each topic's configs, as the broker reports them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in topics.all()]
        )
    finally:
        await admin.close()
    found: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            assert resource["error_code"] == 0
            found[resource["resource_name"]] = {
                entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]
            }
    return found


async def test_topics_are_created_with_the_configs_of_the_settings(broker: EmbeddedBroker, logged: Recorded) -> None:
    topics = own_topics()
    spec = TopicSpec(partitions=3, replication_factor=1, min_insync_replicas=1, retention_ms=SEVEN_DAYS)

    created = await ensure_topics(broker.bootstrap_servers, topics, spec=spec)

    assert created == list(topics.all())
    configs = await reported(broker.bootstrap_servers, topics)
    assert set(configs) == set(topics.all())
    for name in topics.all():
        assert configs[name].get(RETENTION_MS) == str(SEVEN_DAYS), name
        assert configs[name].get(MIN_INSYNC_REPLICAS) == "1", name
    # a second start finds them as wanted: nothing created, nothing to say
    assert await ensure_topics(broker.bootstrap_servers, topics, spec=spec) == []
    assert logged.lines == []


async def test_retention_for_ever_is_created_as_minus_one(broker: EmbeddedBroker, logged: Recorded) -> None:
    topics = own_topics()
    await ensure_topics(broker.bootstrap_servers, topics, spec=TopicSpec(partitions=1, retention_ms=-1))
    configs = await reported(broker.bootstrap_servers, topics)
    assert {configs[name].get(RETENTION_MS) for name in topics.all()} == {"-1"}
    assert await ensure_topics(broker.bootstrap_servers, topics, spec=TopicSpec(partitions=1, retention_ms=-1)) == []
    assert logged.lines == []


async def test_a_start_on_topics_with_fewer_partitions_refuses_clearly(
    broker: EmbeddedBroker, logged: Recorded
) -> None:
    topics = own_topics()
    await ensure_topics(broker.bootstrap_servers, topics, spec=TopicSpec(partitions=2))

    with pytest.raises(TopicsRefused) as refused:
        await ensure_topics(broker.bootstrap_servers, topics, spec=TopicSpec(partitions=4))

    message = str(refused.value)
    assert "not started" in message
    for name in topics.all():
        assert f"topic {name}: partitions is 2, wanted 4;" in message
        assert f"--alter --topic {name} --partitions 4" in message
    assert "HUB_TOPIC_PARTITIONS=2" in message
    assert {(m.topic, m.setting, m.wanted, m.found) for m in refused.value.mismatches} == {
        (name, PARTITIONS, "4", "2") for name in topics.all()
    }
    assert [fields["topic"] for fields in logged.of("error")] == list(topics.all())


async def test_a_start_refuses_before_creating_what_is_missing(broker: EmbeddedBroker, logged: Recorded) -> None:
    topics = own_topics()
    # one topic of the four exists, too small; the other three are missing
    await _create(broker.bootstrap_servers, topics.ingress, partitions=1)

    with pytest.raises(TopicsRefused, match=f"topic {topics.ingress}: partitions is 1, wanted 3"):
        await ensure_topics(broker.bootstrap_servers, topics, spec=TopicSpec(partitions=3))

    assert not set(topics.all()[1:]) & set(await _listed(broker.bootstrap_servers))


async def test_more_partitions_and_configs_not_reported_are_warnings(broker: EmbeddedBroker, logged: Recorded) -> None:
    topics = own_topics()
    await ensure_topics(broker.bootstrap_servers, topics, spec=TopicSpec(partitions=4))  # no configs set

    wanted = TopicSpec(partitions=2, retention_ms=SEVEN_DAYS)
    assert await ensure_topics(broker.bootstrap_servers, topics, spec=wanted) == []

    assert logged.of("error") == []
    warnings = {
        (fields["topic"], fields["setting"], fields["wanted"], fields["found"]) for fields in logged.of("warning")
    }
    for name in topics.all():
        assert (name, PARTITIONS, "2", "4") in warnings
        # the embedded broker reports only the configs a topic was created with
        assert (name, RETENTION_MS, str(SEVEN_DAYS), NOT_REPORTED) in warnings


async def test_another_retention_is_a_warning(broker: EmbeddedBroker, logged: Recorded) -> None:
    topics = own_topics()
    await ensure_topics(broker.bootstrap_servers, topics, spec=TopicSpec(partitions=1, retention_ms=3_600_000))

    assert await ensure_topics(broker.bootstrap_servers, topics, spec=TopicSpec(partitions=1, retention_ms=-1)) == []

    assert logged.of("error") == []
    assert sorted((f["topic"], f["setting"], f["wanted"], f["found"]) for f in logged.of("warning")) == sorted(
        (name, RETENTION_MS, "-1", "3600000") for name in topics.all()
    )


async def _listed(bootstrap_servers: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


async def _create(bootstrap_servers: str, name: str, *, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def test_a_broker_without_describe_configs_gets_partitions_checked_and_a_warning(
    broker: EmbeddedBroker, logged: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As against a broker whose ApiVersions lacks DescribeConfigs: aiokafka refuses to send the request."""
    topics = own_topics()
    await ensure_topics(broker.bootstrap_servers, topics, spec=TopicSpec(partitions=2, retention_ms=SEVEN_DAYS))

    async def unsupported(self: AIOKafkaAdminClient, *args: Any, **kwargs: Any) -> Any:
        raise IncompatibleBrokerVersion("DescribeConfigsRequest cannot be used if the API version is unknown")

    monkeypatch.setattr(AIOKafkaAdminClient, "describe_configs", unsupported)
    assert await ensure_topics(broker.bootstrap_servers, topics, spec=TopicSpec(partitions=2, retention_ms=1)) == []
    (warning,) = logged.of("warning")
    assert warning["api"] == "DescribeConfigs"
    assert warning["topics"] == list(topics.all())

    with pytest.raises(TopicsRefused, match="partitions is 2, wanted 3"):
        await ensure_topics(broker.bootstrap_servers, topics, spec=TopicSpec(partitions=3))
