"""Subscription matching alone: microseconds per message with few and with thousands of subscriptions.

The subscriptions mimic a country: most are GPs following their listed patients, some municipalities
following admissions of their residents, a few hospitals' partners with a FHIRPath criterion.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from hub.domain.message import OrganisationRef, read_facts
from hub.route.criteria import compile_criteria
from hub.route.patients import PatientEntry, PatientRegister
from hub.route.subscription import CompiledSubscription, Subscription, SubscriptionFilters
from hub.route.subscription_index import SubscriptionIndex
from hub.route.subscription_matching import match
from hub.simulate.generator import MessageGenerator

EMERGENCY = "Bundle.entry.resource.ofType(Encounter).class.code = 'EMER'"
SIZES = (10, 1_000, 5_000)


def _index(size: int) -> SubscriptionIndex:
    compiled = []
    for i in range(size):
        kind = i % 10
        if kind < 7:
            filters = SubscriptionFilters(gp_list=f"gp-{i}")
        elif kind < 9:
            filters = SubscriptionFilters(
                municipality_code=f"{100 + i % 98:03d}", activity=frozenset({"admit-inpatient", "admit-emergency"})
            )
        else:
            filters = SubscriptionFilters(sender=f"hospital-{i % 40}", criteria=EMERGENCY)
        subscription = Subscription(f"s{i}", f"org-{i}", "hospital-notification-message", filters)
        criteria = compile_criteria(filters.criteria) if filters.criteria else None
        compiled.append(CompiledSubscription(subscription, criteria))
    return SubscriptionIndex(compiled)


def measure(*, messages: int = 200, rounds: int = 5, sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    generator = MessageGenerator(seed=1)
    now = datetime.now(UTC)
    sample, patients = [], []
    for k in range(messages):
        cpr = generator.fictional_cpr()
        bundle = generator.hospital_notification(
            sender=OrganisationRef("265161000016000"),
            receiver=OrganisationRef("953741000016009"),
            event="STAA" if k % 2 else "STIN",
            patient_cpr=cpr,
            now=now,
        )
        sample.append((read_facts(bundle), bundle))
        patients.append(PatientEntry(cpr, f"{100 + k % 98:03d}", f"gp-{k * 10 % max(sizes)}"))
    register = PatientRegister(patients)
    result: dict[str, Any] = {}
    for size in sizes:
        index = _index(size)
        for facts, bundle in sample[:20]:  # warm up
            match(index, facts, bundle, register, "hospital-9")
        started = time.perf_counter()
        found = 0
        for _ in range(rounds):
            for facts, bundle in sample:
                found += len(match(index, facts, bundle, register, "hospital-9"))
        elapsed = time.perf_counter() - started
        result[str(size)] = {
            "us_per_msg": round(elapsed / (rounds * len(sample)) * 1e6, 1),
            "matches_per_msg": round(found / (rounds * len(sample)), 2),
        }
    result["ratio_largest_to_smallest"] = round(
        result[str(max(sizes))]["us_per_msg"] / max(result[str(min(sizes))]["us_per_msg"], 0.1), 1
    )
    return result
