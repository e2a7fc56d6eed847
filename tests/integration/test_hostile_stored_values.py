"""Hostile values in the fields the hub stores and indexes, through a running hub (on SQLite and on PostgreSQL):
each message is refused at once or ends in a final status that the operators can see, the operator API answers
every search for the value itself without a fault, and good messages sent between them all end acknowledged.

The values are what a database or an index may refuse: ids and codes longer than any column, NUL and other
control characters, characters outside the Basic Multilingual Plane, right-to-left marks, SQL and LIKE
metacharacters, empty and blank strings. They go into MessageHeader.id, Bundle.id, the event code, the
patient's CPR identifier and name, the sender's name, the destination endpoint and the Provenance activity.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.integration.hubtest import OPERATOR_TOKEN, HubUnderTest, eventually, message_status, stin_template
from tests.integration.hubtest import fresh_message as fresh

pytestmark = pytest.mark.integration

SENDER = "herlev-hjerte"
GOOD_EVERY = 6
FINAL = {"acknowledged", "delivered", "rejected", "failed"}
EXPECTED_STATUSES = {202, 400, 403, 413}
SEARCHES = ("message_id", "patient", "event", "sender", "receiver")

Change = Callable[[dict[str, Any], str], dict[str, Any]]


def _resource(bundle: dict[str, Any], resource_type: str) -> dict[str, Any]:
    resource: dict[str, Any] = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    )
    return resource


def _header_id(template: dict[str, Any], value: str) -> dict[str, Any]:
    return fresh(template, header_id=value)


def _bundle_id(template: dict[str, Any], value: str) -> dict[str, Any]:
    bundle = fresh(template)
    bundle["id"] = value
    return bundle


def _in(resource_type: str, put: Callable[[dict[str, Any], str], None]) -> Change:
    def change(template: dict[str, Any], value: str) -> dict[str, Any]:
        bundle = fresh(template)
        put(_resource(bundle, resource_type), value)
        return bundle

    return change


def _event_code(header: dict[str, Any], value: str) -> None:
    header["eventCoding"]["code"] = value


def _endpoint(header: dict[str, Any], value: str) -> None:
    header["destination"][0]["endpoint"] = value


def _cpr(patient: dict[str, Any], value: str) -> None:
    patient["identifier"][0]["value"] = value


def _family(patient: dict[str, Any], value: str) -> None:
    patient["name"][0]["family"] = value


def _organisation_name(organisation: dict[str, Any], value: str) -> None:
    organisation["name"] = value


def _activity(provenance: dict[str, Any], value: str) -> None:
    provenance["activity"]["coding"][0]["code"] = value


FIELDS: dict[str, Change] = {
    "MessageHeader.id": _header_id,
    "Bundle.id": _bundle_id,
    "MessageHeader.eventCoding.code": _in("MessageHeader", _event_code),
    "MessageHeader.destination.endpoint": _in("MessageHeader", _endpoint),
    "Patient.identifier.value": _in("Patient", _cpr),
    "Patient.name.family": _in("Patient", _family),
    "Organization.name": _in("Organization", _organisation_name),
    "Provenance.activity.coding.code": _in("Provenance", _activity),
}

hostile_values = st.one_of(
    # longer than any id (64), code or CPR column; one character repeated keeps generation cheap; at most 5000,
    # so that a search for it (4 UTF-8 bytes a character, percent-encoded) fits in the URL httpx will build
    st.builds(lambda char, n: char * n, st.characters(codec="utf-8"), st.integers(65, 5000)),
    st.text(max_size=12).map(lambda s: f"{s}\x00{s}"),
    st.text(st.characters(max_codepoint=0x1F), min_size=1, max_size=8),
    st.text(st.characters(min_codepoint=0x10000, max_codepoint=0x1F9FF), min_size=1, max_size=40),
    st.sampled_from(["", " ", "\u202e0101012345", "'; DROP TABLE messages;--", "%", "_%\\", "\\x00", "0" * 11]),
)


async def test_hostile_stored_values_end_visible_and_stop_nothing(
    hub: HubUnderTest, api: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    template = stin_template(example_paths)
    token = hub.token(SENDER)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    accepted: list[tuple[str, str]] = []  # (field, tracking id) of each hostile message the hub took
    good: list[str] = []
    faults: list[str] = []

    def run_examples() -> None:
        sent = 0
        with httpx.Client(base_url=hub.url, timeout=60) as client:

            @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(field=st.sampled_from(sorted(FIELDS)), value=hostile_values)
            @example(field="MessageHeader.id", value="x" * 5000)
            @example(field="Patient.identifier.value", value="0101012345" * 30)
            @example(field="MessageHeader.eventCoding.code", value="e" * 3000)
            @example(field="MessageHeader.id", value="b9b4818e\x0002de")
            def post_hostile(field: str, value: str) -> None:
                nonlocal sent
                raw = orjson.dumps(FIELDS[field](template, value))
                response = client.post("/fhir/$process-message", content=raw, headers=headers)
                is_outcome = response.headers.get("content-type", "").startswith("application/fhir+json")
                if response.status_code not in EXPECTED_STATUSES or not is_outcome:
                    faults.append(f"{field}: {response.status_code}: {response.text[:200]}")
                elif response.status_code == 202:
                    accepted.append((field, response.headers["X-Hub-Tracking-Id"]))
                for name in SEARCHES:  # the operators search for what was sent; a fault there is a fault
                    found = client.get("/api/messages", params={name: value}, headers=operator)
                    if found.status_code not in {200, 400}:
                        faults.append(f"search {name} for a {field} value: {found.status_code}: {found.text[:200]}")
                sent += 1
                if sent % GOOD_EVERY == 0:
                    answer = client.post(
                        "/fhir/$process-message", content=orjson.dumps(fresh(template)), headers=headers
                    )
                    assert answer.status_code == 202, answer.text
                    good.append(answer.headers["X-Hub-Tracking-Id"])

            post_hostile()

    await asyncio.to_thread(run_examples)

    assert not faults, "\n".join(faults[:10])
    assert len(good) >= 8
    assert accepted, "no hostile value got past the intake: the test would prove nothing about the store"
    assert hub.process.process is not None and hub.process.process.poll() is None, hub.process.log_tail()

    async def status_of(tracking_id: str) -> str | None:
        found = await message_status(api, tracking_id)
        return found.get("status") if found else None

    for tracking_id in good:
        assert await eventually(functools.partial(_has_status, status_of, tracking_id, {"acknowledged"}), timeout=120)
    for field, tracking_id in accepted:
        assert await eventually(functools.partial(_has_status, status_of, tracking_id, FINAL), timeout=120), field
    assert (await api.get("/readyz")).status_code == 200


async def _has_status(status_of: Any, tracking_id: str, wanted: set[str]) -> bool:
    return (await status_of(tracking_id)) in wanted
