"""A small register for unit tests, built in code."""

from __future__ import annotations

from typing import Any

from hub.route.register import Register, hash_token, parse_register

EVENTS = ["hospital-notification-message", "care-communication-message", "acknowledgement-message"]


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


def small_register(*extra: dict[str, Any]) -> Register:
    return parse_register(
        {
            "hub": {"name": "hub", "sor": "900000000000001"},
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
