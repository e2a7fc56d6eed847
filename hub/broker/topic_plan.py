"""What the hub's topics should look like, and what to do about those that look otherwise (pure: no I/O).

`plan_topics` compares the wanted `TopicSpec` with what the broker reports for the topics that exist and
returns the topics to create and every difference found. A difference that puts records at risk or breaks
the per-patient ordering the hub relies on is fatal (the hub refuses to start, `TopicsRefused`): fewer
partitions, a lower replication factor or a lower `min.insync.replicas` than wanted. Other differences (more
partitions, another retention, a setting the broker does not report) are warnings. Each names the topic, the
setting, the wanted and the found value, and how to fix it; none holds anything from a record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MIN_INSYNC_REPLICAS = "min.insync.replicas"
RETENTION_MS = "retention.ms"
PARTITIONS = "partitions"
REPLICATION_FACTOR = "replication factor"

# where an operator changes the wanted value instead
_VARIABLES = {
    PARTITIONS: "HUB_TOPIC_PARTITIONS",
    REPLICATION_FACTOR: "HUB_TOPIC_REPLICATION_FACTOR",
    MIN_INSYNC_REPLICAS: "HUB_TOPIC_MIN_INSYNC_REPLICAS",
    RETENTION_MS: "HUB_TOPIC_RETENTION_MS",
}

NOT_REPORTED = "not reported"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """How every topic of the hub is to be: partitions, replicas, and the configs set only when given
    (None: the broker's default)."""

    partitions: int
    replication_factor: int = 1
    min_insync_replicas: int | None = None
    retention_ms: int | None = None  # -1: for ever

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise ValueError(f"partitions must be at least 1, not {self.partitions}")
        if self.replication_factor < 1:
            raise ValueError(f"replication factor must be at least 1, not {self.replication_factor}")
        if self.min_insync_replicas is not None and not 1 <= self.min_insync_replicas <= self.replication_factor:
            raise ValueError(
                f"min.insync.replicas must be between 1 and the replication factor ({self.replication_factor}), "
                f"not {self.min_insync_replicas}"
            )
        if self.retention_ms is not None and self.retention_ms != -1 and self.retention_ms < 1:
            raise ValueError(f"retention.ms must be positive or -1 (for ever), not {self.retention_ms}")

    @property
    def configs(self) -> dict[str, str]:
        """The topic configs to create a topic with: only those set."""
        configs: dict[str, str] = {}
        if self.min_insync_replicas is not None:
            configs[MIN_INSYNC_REPLICAS] = str(self.min_insync_replicas)
        if self.retention_ms is not None:
            configs[RETENTION_MS] = str(self.retention_ms)
        return configs


@dataclass(frozen=True, slots=True)
class ObservedTopic:
    """What the broker reports for an existing topic. `replication_factor` is that of its least replicated
    partition; `configs` is None when the broker could not be asked for them (then they are not checked)."""

    partitions: int
    replication_factor: int
    configs: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One setting of one topic that is not as wanted."""

    topic: str
    setting: str
    wanted: str
    found: str
    fatal: bool
    fix: str

    def __str__(self) -> str:
        return f"topic {self.topic}: {self.setting} is {self.found}, wanted {self.wanted}; {self.fix}"


@dataclass(frozen=True, slots=True)
class TopicPlan:
    create: tuple[str, ...]
    mismatches: tuple[Mismatch, ...]

    @property
    def fatal(self) -> tuple[Mismatch, ...]:
        return tuple(m for m in self.mismatches if m.fatal)

    @property
    def warnings(self) -> tuple[Mismatch, ...]:
        return tuple(m for m in self.mismatches if not m.fatal)


class TopicsRefused(RuntimeError):
    """Existing topics are weaker than the settings want: the hub does not start on them."""

    def __init__(self, mismatches: Iterable[Mismatch]) -> None:
        self.mismatches = tuple(mismatches)
        super().__init__(
            "the hub's Kafka topics do not match its settings; not started: "
            + "; ".join(str(m) for m in self.mismatches)
        )


def plan_topics(spec: TopicSpec, names: Iterable[str], observed: Mapping[str, ObservedTopic]) -> TopicPlan:
    """The topics of `names` to create (those not in `observed`) and the differences of those that exist."""
    create: list[str] = []
    mismatches: list[Mismatch] = []
    for name in dict.fromkeys(names):
        topic = observed.get(name)
        if topic is None:
            create.append(name)
        else:
            mismatches.extend(_compare(spec, name, topic))
    return TopicPlan(tuple(create), tuple(mismatches))


def _compare(spec: TopicSpec, name: str, topic: ObservedTopic) -> list[Mismatch]:
    found: list[Mismatch] = []
    if topic.partitions < spec.partitions:
        found.append(
            _mismatch(
                name,
                PARTITIONS,
                spec.partitions,
                topic.partitions,
                fatal=True,
                fix=f"add partitions with `kafka-topics.sh --bootstrap-server <brokers> --alter --topic {name} "
                f"--partitions {spec.partitions}` (while no hub runs: a patient's key then maps to another "
                f"partition), or set HUB_TOPIC_PARTITIONS={topic.partitions}",
            )
        )
    elif topic.partitions > spec.partitions:
        found.append(
            _mismatch(
                name,
                PARTITIONS,
                spec.partitions,
                topic.partitions,
                fatal=False,
                fix=f"the hub uses all {topic.partitions}; set HUB_TOPIC_PARTITIONS={topic.partitions} to match",
            )
        )
    if topic.replication_factor < spec.replication_factor:
        found.append(
            _mismatch(
                name,
                REPLICATION_FACTOR,
                spec.replication_factor,
                topic.replication_factor,
                fatal=True,
                fix="add replicas with `kafka-reassign-partitions.sh --bootstrap-server <brokers> "
                "--reassignment-json-file <plan> --execute` (kafka-topics.sh cannot change it), or set "
                f"HUB_TOPIC_REPLICATION_FACTOR={topic.replication_factor}",
            )
        )
    elif topic.replication_factor > spec.replication_factor:
        found.append(
            _mismatch(
                name,
                REPLICATION_FACTOR,
                spec.replication_factor,
                topic.replication_factor,
                fatal=False,
                fix=f"more replicas than wanted; set HUB_TOPIC_REPLICATION_FACTOR={topic.replication_factor} to match",
            )
        )
    if topic.configs is not None:
        found.extend(_compare_configs(spec, name, topic.configs))
    return found


def _compare_configs(spec: TopicSpec, name: str, configs: Mapping[str, str]) -> list[Mismatch]:
    found: list[Mismatch] = []
    alter = f"`kafka-configs.sh --bootstrap-server <brokers> --alter --entity-type topics --entity-name {name} "
    for key, wanted in spec.configs.items():
        actual = configs.get(key)
        if actual is None:
            found.append(
                Mismatch(
                    name,
                    key,
                    wanted,
                    NOT_REPORTED,
                    fatal=False,
                    fix="the broker does not report it, so it could not be checked",
                )
            )
            continue
        wanted_number, actual_number = int(wanted), _as_int(actual)
        if actual_number == wanted_number:
            continue
        change = f"{alter}--add-config {key}={wanted}`, or set {_VARIABLES[key]}={actual}"
        if key == MIN_INSYNC_REPLICAS:
            lower = actual_number is None or actual_number < wanted_number
            found.append(
                Mismatch(
                    name,
                    key,
                    wanted,
                    actual,
                    fatal=lower,
                    fix=change if lower else f"writes wait for more in-sync replicas than wanted; {change}",
                )
            )
        else:
            found.append(Mismatch(name, key, wanted, actual, fatal=False, fix=f"to change it: {change}"))
    return found


def _mismatch(topic: str, setting: str, wanted: int, found: int, *, fatal: bool, fix: str) -> Mismatch:
    return Mismatch(topic, setting, str(wanted), str(found), fatal=fatal, fix=fix)


def _as_int(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None
