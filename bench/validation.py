"""Validation alone, in this process: the hub's Validator against fhir.resources' R4B parse of the same bytes.

Each is timed over the whole sample in several rounds (after one warm-up round); the median round counts.
``orjson.loads`` alone is timed as the floor both start from, and each layer of the Validator alone (by_layer:
envelope, facts, core structure, MedCom messaging, profiles) shows where its time goes.

The realistic Danish message of ../shared/fhir-test-cases/messages (a Patient with CPR, contacts and dk-core
extensions, an Encounter, Organizations, a Provenance) is timed alone too (danish_message): the full validation
(every layer, the positions of its issues) against fhir.resources' R4B parse of the same bytes, in alternating
rounds so that both meet the same load of a shared machine, each round timed in this process's CPU time; the
median of the rounds' ratios is the figure (the hub's goal: at most 0.5).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.load import Outgoing

DANISH_MESSAGE = (
    Path(__file__).resolve().parents[2] / "shared" / "fhir-test-cases" / "messages" / "bundle-message-dk.json"
)


def _per_message_us(function: Callable[[bytes], object], raws: Sequence[bytes], *, rounds: int) -> float:
    for raw in raws[: min(len(raws), 50)]:
        function(raw)  # warm-up: imports, caches, compiled validators
    results = []
    for _ in range(rounds):
        started = time.perf_counter()
        for raw in raws:
            function(raw)
        results.append((time.perf_counter() - started) / len(raws) * 1e6)
    return statistics.median(results)


def measure(items: Sequence[Outgoing], *, rounds: int = 3) -> dict[str, Any]:
    from fhir.resources.R4B.bundle import Bundle

    from hub.validate.validator import Validator

    validator = Validator()
    raws = [item.raw for item in items]
    invalid = sum(1 for raw in raws if not validator.validate(raw).valid)

    def fhir_parse(raw: bytes) -> object:
        return Bundle.model_validate(orjson.loads(raw))

    hub_us = _per_message_us(validator.validate, raws, rounds=rounds)
    fhir_us = _per_message_us(fhir_parse, raws, rounds=rounds)
    loads_us = _per_message_us(orjson.loads, raws, rounds=rounds)
    by_kind: dict[str, dict[str, float]] = {}
    for kind in sorted({item.kind for item in items}):
        sample = [item.raw for item in items if item.kind == kind]
        by_kind[kind] = {
            "messages": len(sample),
            "mean_bytes": sum(map(len, sample)) / len(sample),
            "validate_us": _per_message_us(validator.validate, sample, rounds=1),
            "fhir_parse_us": _per_message_us(fhir_parse, sample, rounds=1),
        }
    return {
        "messages": len(raws),
        "invalid": invalid,
        "rounds": rounds,
        "validate_us_per_msg": hub_us,
        "fhir_resources_parse_us_per_msg": fhir_us,
        "orjson_loads_us_per_msg": loads_us,
        "validate_to_fhir_parse_ratio": hub_us / fhir_us if fhir_us else None,
        "by_kind": by_kind,
        "by_layer": _by_layer(validator, raws),
        "danish_message": danish_message(validator, fhir_parse, rounds=max(5, rounds * 3)),
    }


def danish_message(
    validator: Any, fhir_parse: Callable[[bytes], object], *, rounds: int, path: Path = DANISH_MESSAGE
) -> dict[str, Any] | None:
    """ms of CPU for one full validation and one fhir.resources parse of the Danish message (see above), and the
    median ratio of alternating rounds; None when ../shared is not there."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    repeats = 200

    def round_ms(function: Callable[[bytes], object]) -> float:
        started = time.process_time()
        for _ in range(repeats):
            function(raw)
        return (time.process_time() - started) / repeats * 1e3

    round_ms(validator.validate)  # warm-up: caches, compiled skippers, pydantic's validators
    round_ms(fhir_parse)
    validate_ms, parse_ms = [], []
    for _ in range(rounds):
        validate_ms.append(round_ms(validator.validate))
        parse_ms.append(round_ms(fhir_parse))
    verdict = validator.validate(raw)
    return {
        "path": str(path),
        "bytes": len(raw),
        "valid": verdict.valid,
        "issues": len(verdict.issues),
        "rounds": rounds,
        "validate_ms": statistics.median(validate_ms),
        "fhir_resources_parse_ms": statistics.median(parse_ms),
        "validate_to_fhir_parse_ratio": statistics.median(v / p for v, p in zip(validate_ms, parse_ms, strict=True)),
    }


def _by_layer(validator: Any, raws: Sequence[bytes]) -> dict[str, float]:
    """µs per message of each layer of Validator.validate alone (one round each), to see where the time goes."""
    from hub.domain.message import read_facts
    from hub.validate.core import check_resource
    from hub.validate.envelope import read_envelope
    from hub.validate.messaging import check_messaging
    from hub.validate.profiles import check_profiles

    bundles = [orjson.loads(raw) for raw in raws]
    rules = validator.rules

    def envelope(raw: bytes) -> object:
        return read_envelope(raw, max_bytes=validator.max_bytes)

    def core(bundle: Any) -> object:
        return check_resource(bundle, rules, "Bundle")

    def messaging(bundle: Any) -> object:
        return check_messaging(bundle, event_codes=validator.event_codes, own_event_codes=validator.own_event_codes)

    def profiles(bundle: Any) -> object:
        return check_profiles(rules, bundle)

    layers: dict[str, tuple[Callable[[Any], object], Sequence[Any]]] = {
        "envelope": (envelope, raws),
        "facts": (read_facts, bundles),
        "core": (core, bundles),
        "messaging": (messaging, bundles),
        "profiles": (profiles, bundles),
    }
    return {name: _per_message_us(function, items, rounds=1) for name, (function, items) in layers.items()}
