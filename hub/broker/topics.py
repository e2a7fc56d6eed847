"""Topic names and their creation (always explicit: the embedded broker loses records on auto-created topics).

At start the hub's topics are created as the settings want them (`TopicSpec`), and those that exist already
are checked against the settings (`hub.broker.topic_plan`): weaker topics refuse the start, other
differences are logged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    IncompatibleBrokerVersion,
    KafkaError,
    TopicAlreadyExistsError,
    UnsupportedVersionError,
    for_code,
)

from hub.broker.topic_plan import Mismatch, ObservedTopic, TopicPlan, TopicSpec, TopicsRefused, plan_topics

log = structlog.get_logger(__name__)

# a broker that does not know a request: aiokafka finds it missing from the broker's ApiVersions (or knows
# no version of it the broker takes), or the broker answers UNSUPPORTED_VERSION
_UNSUPPORTED = (IncompatibleBrokerVersion, NotImplementedError, UnsupportedVersionError)


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = "hub."

    @property
    def ingress(self) -> str:
        """Raw bytes of every message a connector accepted, keyed by patient."""
        return f"{self.prefix}ingress"

    @property
    def outbox(self) -> str:
        """One record per (message, receiver) to deliver, keyed by receiver and patient."""
        return f"{self.prefix}outbox"

    @property
    def events(self) -> str:
        """The audit trail: every step of every message, keyed by message."""
        return f"{self.prefix}events"

    @property
    def dead_letters(self) -> str:
        """Deliveries given up on, with their reason and attempts; operators redrive them."""
        return f"{self.prefix}deadletter"

    def all(self) -> tuple[str, ...]:
        return (self.ingress, self.outbox, self.events, self.dead_letters)


async def ensure_topics(
    bootstrap_servers: str,
    topics: Topics,
    *,
    spec: TopicSpec | None = None,
    partitions: int | None = None,
    timeout: float = 30.0,
) -> list[str]:
    """Create the hub's topics when missing, as `spec` wants them (`partitions=N` is short for
    `spec=TopicSpec(N)`), and wait until the broker lists them all; returns those that were missing.

    Topics that exist already are checked against `spec` first: `TopicsRefused` when one is weaker (fewer
    partitions, fewer replicas, a lower min.insync.replicas), a warning in the log for other differences.
    A broker that cannot report topic configs (no DescribeConfigs) gets the partitions and replicas checked.
    """
    wanted = _wanted(spec, partitions)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await admin.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        plan = plan_topics(wanted, topics.all(), await _observe(admin, topics.all(), deadline))
        _apply(plan)
        raced = await _create(admin, wanted, plan.create) if plan.create else []
        while not set(topics.all()) <= set(await admin.list_topics()):
            if loop.time() > deadline:
                raise KafkaError(f"topics {topics.all()} did not appear within {timeout} s")
            await asyncio.sleep(0.1)
        if raced:  # another hub process created them first, perhaps with other settings
            _apply(plan_topics(wanted, raced, await _observe(admin, raced, deadline)))
    finally:
        await admin.close()
    return list(plan.create)


def _wanted(spec: TopicSpec | None, partitions: int | None) -> TopicSpec:
    if spec is not None and partitions is not None:
        raise TypeError("ensure_topics takes spec= or partitions=, not both")
    if spec is not None:
        return spec
    if partitions is None:
        raise TypeError("ensure_topics needs spec= or partitions=")
    return TopicSpec(partitions=partitions)


def _apply(plan: TopicPlan) -> None:
    """Warnings to the log (topic names and numbers only); fatal differences refuse the start."""
    for mismatch in plan.warnings:
        _log_mismatch(log.warning, "topic differs from the settings", mismatch)
    if plan.fatal:
        for mismatch in plan.fatal:
            _log_mismatch(log.error, "topic weaker than the settings; not starting", mismatch)
        raise TopicsRefused(plan.fatal)


def _log_mismatch(write: Callable[..., object], what: str, mismatch: Mismatch) -> None:
    write(
        what,
        topic=mismatch.topic,
        setting=mismatch.setting,
        wanted=mismatch.wanted,
        found=mismatch.found,
        fix=mismatch.fix,
    )


async def _create(admin: AIOKafkaAdminClient, spec: TopicSpec, names: Sequence[str]) -> list[str]:
    """Create the topics; returns those another process created first. The broker answers each topic with an
    error code (aiokafka does not raise them): any other than TOPIC_ALREADY_EXISTS stops the start."""
    configs = spec.configs
    new = [NewTopic(name, spec.partitions, spec.replication_factor, topic_configs=configs) for name in names]
    with contextlib.suppress(TopicAlreadyExistsError):  # another hub process was first (older clients raise)
        response = await admin.create_topics(new)
        raced: list[str] = []
        for entry in _entries(response, "topic_errors"):
            name, code = str(entry.get("topic")), int(entry.get("error_code") or 0)
            if code == TopicAlreadyExistsError.errno:
                raced.append(name)
            elif code:
                error = for_code(code)
                detail = entry.get("error_message") or error.description
                raise error(
                    f"creating topic {name} ({spec.partitions} partitions, replication factor "
                    f"{spec.replication_factor}, configs {configs or 'broker defaults'}) failed: {detail}"
                )
        return raced
    return list(names)


async def _observe(admin: AIOKafkaAdminClient, names: Sequence[str], deadline: float) -> dict[str, ObservedTopic]:
    """What the broker reports for those of `names` that exist: partitions and replicas from the cluster's
    metadata (asked for all topics, so that asking creates none), configs from DescribeConfigs."""
    loop = asyncio.get_running_loop()
    while True:
        layout, settling = _layout(await admin.describe_topics(), names)
        if not settling:
            break
        if loop.time() > deadline:
            raise KafkaError(f"the broker reports no partitions for topics {sorted(settling)}")
        await asyncio.sleep(0.1)  # a topic just created may have no leaders yet
    configs = await _configs(admin, list(layout)) if layout else {}
    return {
        name: ObservedTopic(partitions=count, replication_factor=replicas, configs=configs.get(name))
        for name, (count, replicas) in layout.items()
    }


def _layout(metadata: Any, names: Sequence[str]) -> tuple[dict[str, tuple[int, int]], set[str]]:
    """(partitions, fewest replicas of a partition) of each topic of `names` the metadata lists, and the topics
    it lists without partitions yet."""
    layout: dict[str, tuple[int, int]] = {}
    settling: set[str] = set()
    wanted = set(names)
    for topic in metadata if isinstance(metadata, list) else ():
        if not isinstance(topic, Mapping) or topic.get("topic") not in wanted:
            continue
        partitions = [p for p in topic.get("partitions") or () if isinstance(p, Mapping)]
        if not partitions:
            settling.add(str(topic["topic"]))
            continue
        replicas = min(len(p.get("replicas") or ()) for p in partitions)
        layout[str(topic["topic"])] = (len(partitions), replicas)
    return {name: layout[name] for name in names if name in layout}, settling  # in the order of `names`


async def _configs(admin: AIOKafkaAdminClient, names: Sequence[str]) -> dict[str, dict[str, str]]:
    """Each topic's configs as the broker reports them; a topic missing from the answer is not checked.
    A broker without DescribeConfigs is logged, and its topics' configs are not checked."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    try:
        responses = await admin.describe_configs(resources)
    except _UNSUPPORTED as exc:
        log.warning(
            "topic configs not checked: the broker does not support the request",
            api="DescribeConfigs",
            error=type(exc).__name__,
            topics=list(names),
        )
        return {}
    found: dict[str, dict[str, str]] = {}
    for response in responses if isinstance(responses, list) else ():
        for resource in _entries(response, "resources"):
            name, code = str(resource.get("resource_name")), int(resource.get("error_code") or 0)
            if code == UnsupportedVersionError.errno:
                log.warning(
                    "topic configs not checked: the broker does not support the request",
                    api="DescribeConfigs",
                    topics=[name],
                )
                continue
            if code:
                error = for_code(code)
                detail = resource.get("error_message") or error.description
                raise error(f"the broker did not report topic {name}'s configs (DescribeConfigs): {detail}")
            found[name] = {
                str(entry["config_names"]): str(entry["config_value"])
                for entry in resource.get("config_entries") or ()
                if isinstance(entry, Mapping) and entry.get("config_value") is not None
            }
    return found


def _entries(response: Any, field: str) -> list[Mapping[str, Any]]:
    """The entries of an array field of an aiokafka response, as mappings."""
    obj = response.to_object() if hasattr(response, "to_object") else {}
    entries = obj.get(field) if isinstance(obj, Mapping) else None
    return [entry for entry in entries or () if isinstance(entry, Mapping)]
