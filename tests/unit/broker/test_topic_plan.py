"""The topic plan: which topics to create, and which differences of existing topics refuse the start (fewer
partitions, fewer replicas, a lower min.insync.replicas) and which are only logged."""

from __future__ import annotations

import pytest

from hub.broker.topic_plan import (
    MIN_INSYNC_REPLICAS,
    NOT_REPORTED,
    PARTITIONS,
    REPLICATION_FACTOR,
    RETENTION_MS,
    Mismatch,
    ObservedTopic,
    TopicSpec,
    TopicsRefused,
    plan_topics,
)

SEVEN_DAYS = 7 * 24 * 3600 * 1000
PRODUCTION = TopicSpec(partitions=8, replication_factor=3, min_insync_replicas=2, retention_ms=SEVEN_DAYS)
NAMES = ("hub.ingress", "hub.outbox", "hub.events", "hub.deadletter")


def as_wanted(spec: TopicSpec = PRODUCTION) -> ObservedTopic:
    return ObservedTopic(
        partitions=spec.partitions,
        replication_factor=spec.replication_factor,
        configs={MIN_INSYNC_REPLICAS: str(spec.min_insync_replicas), RETENTION_MS: str(spec.retention_ms)},
    )


def only(mismatches: tuple[Mismatch, ...]) -> Mismatch:
    assert len(mismatches) == 1, mismatches
    return mismatches[0]


def test_on_an_empty_broker_every_topic_is_created_and_nothing_differs() -> None:
    plan = plan_topics(PRODUCTION, NAMES, {})
    assert plan.create == NAMES
    assert plan.mismatches == ()


def test_only_the_missing_topics_are_created() -> None:
    plan = plan_topics(PRODUCTION, NAMES, {"hub.ingress": as_wanted(), "hub.events": as_wanted()})
    assert plan.create == ("hub.outbox", "hub.deadletter")
    assert plan.mismatches == ()


def test_topics_as_wanted_pass() -> None:
    plan = plan_topics(PRODUCTION, NAMES, dict.fromkeys(NAMES, as_wanted()))
    assert plan.create == ()
    assert plan.mismatches == ()


def test_the_configs_are_only_those_set() -> None:
    assert TopicSpec(partitions=4).configs == {}
    assert PRODUCTION.configs == {MIN_INSYNC_REPLICAS: "2", RETENTION_MS: str(SEVEN_DAYS)}
    assert TopicSpec(partitions=1, retention_ms=-1).configs == {RETENTION_MS: "-1"}


def test_fewer_partitions_than_wanted_is_fatal_and_says_how_to_fix_it() -> None:
    observed = ObservedTopic(partitions=4, replication_factor=3, configs=as_wanted().configs)
    plan = plan_topics(PRODUCTION, NAMES, {"hub.outbox": observed})
    mismatch = only(plan.fatal)
    assert (mismatch.topic, mismatch.setting, mismatch.wanted, mismatch.found) == ("hub.outbox", PARTITIONS, "8", "4")
    text = str(mismatch)
    assert text.startswith("topic hub.outbox: partitions is 4, wanted 8;")
    assert "kafka-topics.sh" in text and "--alter --topic hub.outbox --partitions 8" in text
    assert "HUB_TOPIC_PARTITIONS=4" in text


def test_more_partitions_than_wanted_is_a_warning() -> None:
    observed = ObservedTopic(partitions=12, replication_factor=3, configs=as_wanted().configs)
    plan = plan_topics(PRODUCTION, ["hub.ingress"], {"hub.ingress": observed})
    assert plan.fatal == ()
    warning = only(plan.warnings)
    assert (warning.setting, warning.wanted, warning.found) == (PARTITIONS, "8", "12")


def test_a_lower_replication_factor_is_fatal() -> None:
    observed = ObservedTopic(partitions=8, replication_factor=1, configs=as_wanted().configs)
    mismatch = only(plan_topics(PRODUCTION, ["hub.events"], {"hub.events": observed}).fatal)
    assert (mismatch.topic, mismatch.setting, mismatch.wanted, mismatch.found) == (
        "hub.events",
        REPLICATION_FACTOR,
        "3",
        "1",
    )
    assert "kafka-reassign-partitions.sh" in mismatch.fix
    assert "HUB_TOPIC_REPLICATION_FACTOR=1" in mismatch.fix


def test_a_higher_replication_factor_is_a_warning() -> None:
    observed = ObservedTopic(partitions=8, replication_factor=5, configs=as_wanted().configs)
    plan = plan_topics(PRODUCTION, ["hub.events"], {"hub.events": observed})
    assert plan.fatal == ()
    assert only(plan.warnings).setting == REPLICATION_FACTOR


def test_a_lower_min_insync_replicas_is_fatal() -> None:
    observed = ObservedTopic(
        partitions=8, replication_factor=3, configs={MIN_INSYNC_REPLICAS: "1", RETENTION_MS: str(SEVEN_DAYS)}
    )
    mismatch = only(plan_topics(PRODUCTION, ["hub.ingress"], {"hub.ingress": observed}).fatal)
    assert (mismatch.setting, mismatch.wanted, mismatch.found) == (MIN_INSYNC_REPLICAS, "2", "1")
    assert "kafka-configs.sh" in mismatch.fix
    assert "--entity-type topics --entity-name hub.ingress --add-config min.insync.replicas=2" in mismatch.fix
    assert "HUB_TOPIC_MIN_INSYNC_REPLICAS=1" in mismatch.fix


def test_a_higher_min_insync_replicas_is_a_warning() -> None:
    observed = ObservedTopic(
        partitions=8, replication_factor=3, configs={MIN_INSYNC_REPLICAS: "3", RETENTION_MS: str(SEVEN_DAYS)}
    )
    plan = plan_topics(PRODUCTION, ["hub.ingress"], {"hub.ingress": observed})
    assert plan.fatal == ()
    assert only(plan.warnings).setting == MIN_INSYNC_REPLICAS


@pytest.mark.parametrize("found", ["86400000", "-1"])
def test_another_retention_is_a_warning_naming_both_values(found: str) -> None:
    observed = ObservedTopic(
        partitions=8, replication_factor=3, configs={MIN_INSYNC_REPLICAS: "2", RETENTION_MS: found}
    )
    plan = plan_topics(PRODUCTION, ["hub.events"], {"hub.events": observed})
    assert plan.fatal == ()
    warning = only(plan.warnings)
    assert (warning.topic, warning.setting, warning.wanted, warning.found) == (
        "hub.events",
        RETENTION_MS,
        str(SEVEN_DAYS),
        found,
    )
    assert f"--add-config retention.ms={SEVEN_DAYS}" in warning.fix


def test_settings_left_to_the_broker_are_not_compared() -> None:
    """Kafka reports every config, defaults too: an unset setting accepts whatever the broker has."""
    development = TopicSpec(partitions=8)
    observed = ObservedTopic(
        partitions=8, replication_factor=1, configs={MIN_INSYNC_REPLICAS: "1", RETENTION_MS: "604800000"}
    )
    assert plan_topics(development, ["hub.ingress"], {"hub.ingress": observed}).mismatches == ()


def test_numbers_are_compared_as_numbers() -> None:
    observed = ObservedTopic(
        partitions=8, replication_factor=3, configs={MIN_INSYNC_REPLICAS: " 2", RETENTION_MS: f"0{SEVEN_DAYS}"}
    )
    assert plan_topics(PRODUCTION, ["hub.ingress"], {"hub.ingress": observed}).mismatches == ()


def test_a_config_the_broker_does_not_report_is_a_warning_not_a_refusal() -> None:
    """The embedded broker (Tansu) reports only the configs a topic was created with."""
    observed = ObservedTopic(partitions=8, replication_factor=3, configs={})
    plan = plan_topics(PRODUCTION, ["hub.ingress"], {"hub.ingress": observed})
    assert plan.fatal == ()
    assert {(w.setting, w.found) for w in plan.warnings} == {
        (MIN_INSYNC_REPLICAS, NOT_REPORTED),
        (RETENTION_MS, NOT_REPORTED),
    }


def test_configs_that_could_not_be_asked_for_are_not_checked() -> None:
    observed = ObservedTopic(partitions=8, replication_factor=3, configs=None)
    assert plan_topics(PRODUCTION, ["hub.ingress"], {"hub.ingress": observed}).mismatches == ()


def test_an_unreadable_min_insync_replicas_refuses() -> None:
    observed = ObservedTopic(partitions=8, replication_factor=3, configs={MIN_INSYNC_REPLICAS: "two"})
    plan = plan_topics(PRODUCTION, ["hub.ingress"], {"hub.ingress": observed})
    assert only(plan.fatal).found == "two"


def test_every_difference_of_every_topic_is_listed() -> None:
    weak = ObservedTopic(partitions=2, replication_factor=1, configs={MIN_INSYNC_REPLICAS: "1", RETENTION_MS: "1000"})
    plan = plan_topics(PRODUCTION, NAMES, {"hub.ingress": weak, "hub.outbox": weak})
    assert plan.create == ("hub.events", "hub.deadletter")
    assert [(m.topic, m.setting) for m in plan.fatal] == [
        (topic, setting)
        for topic in ("hub.ingress", "hub.outbox")
        for setting in (PARTITIONS, REPLICATION_FACTOR, MIN_INSYNC_REPLICAS)
    ]
    assert [(m.topic, m.setting) for m in plan.warnings] == [
        ("hub.ingress", RETENTION_MS),
        ("hub.outbox", RETENTION_MS),
    ]


def test_the_refusal_names_topic_setting_wanted_and_found() -> None:
    observed = ObservedTopic(partitions=4, replication_factor=3, configs=as_wanted().configs)
    refused = TopicsRefused(plan_topics(PRODUCTION, ["hub.ingress"], {"hub.ingress": observed}).fatal)
    message = str(refused)
    assert message.startswith("the hub's Kafka topics do not match its settings; not started: ")
    assert "topic hub.ingress: partitions is 4, wanted 8;" in message
    assert len(refused.mismatches) == 1


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"partitions": 0}, "partitions must be at least 1"),
        ({"partitions": 1, "replication_factor": 0}, "replication factor must be at least 1"),
        ({"partitions": 1, "replication_factor": 2, "min_insync_replicas": 3}, "min.insync.replicas must be between"),
        ({"partitions": 1, "min_insync_replicas": 0}, "min.insync.replicas must be between"),
        ({"partitions": 1, "retention_ms": 0}, "retention.ms must be positive or -1"),
        ({"partitions": 1, "retention_ms": -2}, "retention.ms must be positive or -1"),
    ],
)
def test_an_impossible_spec_is_refused(arguments: dict[str, int], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        TopicSpec(**arguments)
