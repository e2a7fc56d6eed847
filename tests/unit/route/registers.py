"""A small register for unit tests, built in code."""

from __future__ import annotations

from typing import Any

from hub.route.register import Register, hash_token, parse_register

EVENTS = ["hospital-notification-message", "care-communication-message", "acknowledgement-message"]

# who may subscribe to what: municipalities to hospital notifications about their residents, GPs to those about
# their listed patients
POLICY: list[dict[str, Any]] = [
    {
        "rule": "municipality-of-residence",
        "kind": "municipality",
        "events": ["hospital-notification-message"],
        "requires": {"municipality_code": "own"},
        "basis": "MedCom HospitalNotification guideline: the municipality of residence",
    },
    {
        "rule": "gp-listed-patients",
        "kind": "gp",
        "events": ["hospital-notification-message"],
        "requires": {"gp_list": "own"},
        "basis": "the patient's own GP",
    },
]


def organisation(org_id: str, sor: str, kind: str = "municipality", **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": org_id,
        "name": org_id.replace("-", " ").title(),
        "kind": kind,
        "sor": sor,
        "token_sha256": hash_token(f"token-{org_id}"),
        "endpoint": {"kind": "http", "url": f"http://127.0.0.1:9/{org_id}"},
        "accepts": EVENTS,
    }
    entry.update(extra)
    return entry


def small_register(*extra: dict[str, Any], policy: list[dict[str, Any]] | None = None) -> Register:
    return parse_register(
        {
            "hub": {"name": "hub", "sor": "900000000000001"},
            "subscription_policy": POLICY if policy is None else policy,
            "organisations": [
                organisation("hospital", "100000000000001", "hospital"),
                organisation("kommune-a", "200000000000001"),
                organisation("kommune-b", "200000000000002"),
                organisation("gp-only-acks", "300000000000001", "gp", accepts=["acknowledgement-message"]),
                *extra,
            ],
        },
        source="test",
    )
