"""/fhir/Subscription and /fhir/SubscriptionTopic over HTTP, on a real SQLite file, with the open operator API (a
request without a token is the administrator's; one with an organisation's token is that organisation's): what the
resource routes cannot take is refused with an OperationOutcome naming the element, an operator-made subscription
is shown to its receiver, and one organisation never sees another's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hub.api import fhir_subscriptions, subscriptions
from hub.api.identity import Authenticator
from hub.api.refusals import install_refusal_handlers
from hub.route.fhir_subscription import FILTER_CRITERIA, REGISTER_ID_SYSTEM, SUBSCRIBER_EXTENSION, TOPIC_BASE
from hub.route.subscription_store import SubscriptionService, SubscriptionStore
from hub.settings import HubSettings
from hub.store.engine import open_database
from tests.unit.route.registers import EVENTS, organisation, small_register

HN = "hospital-notification-message"
REGISTER = small_register(
    organisation("kommune-101", "200000000000101", municipality_code="101"),
    organisation("kommune-163", "200000000000163", municipality_code="163"),
    policy=[
        {
            "rule": "residents",
            "kind": "municipality",
            "events": ["*"],
            "requires": {"municipality_code": "own"},
            "basis": "the municipality of residence",
        }
    ],
)
OWN = {"Authorization": "Bearer token-kommune-101"}
OTHER = {"Authorization": "Bearer token-kommune-163"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    engine = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")
    service = SubscriptionService(SubscriptionStore(engine), REGISTER, EVENTS)
    await service.start()
    app = FastAPI()
    app.include_router(fhir_subscriptions.router)
    app.include_router(subscriptions.router)
    install_refusal_handlers(app)
    app.state.settings = HubSettings(operator_token=None, _env_file=None)
    app.state.register = REGISTER
    app.state.subscriptions = service
    app.state.authenticator = Authenticator(app.state.settings, REGISTER)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as http:
        yield http
    await engine.dispose()


def resource(*filters: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Subscription",
        "status": "active",
        "reason": "residents",
        "criteria": f"{TOPIC_BASE}{HN}",
        "_criteria": {"extension": [{"url": FILTER_CRITERIA, "valueString": f} for f in filters]},
        "channel": {"type": "message"},
    }
    return body | changes


def issue(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    [found] = response.json()["issue"]
    assert isinstance(found, dict)
    return found


async def test_the_topics_are_listed_read_and_searched_by_url(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/fhir/SubscriptionTopic", headers=OWN)).json()
    assert [e["resource"]["id"] for e in listed["entry"]] == ["care-communication-message", HN, "any-event"]
    assert listed["entry"][1]["fullUrl"] == f"http://hub.test/fhir/SubscriptionTopic/{HN}"
    found = (await client.get("/fhir/SubscriptionTopic", params={"url": f"{TOPIC_BASE}any-event"})).json()
    assert [e["resource"]["id"] for e in found["entry"]] == ["any-event"]
    assert (await client.get(f"/fhir/SubscriptionTopic/{HN}")).json()["url"] == f"{TOPIC_BASE}{HN}"
    issue(await client.get("/fhir/SubscriptionTopic/acknowledgement-message"), 404)


async def test_a_body_that_is_no_subscription_is_refused(client: httpx.AsyncClient) -> None:
    bad_json = await client.post("/fhir/Subscription", content=b"{", headers=OWN)
    assert issue(bad_json, 400)["code"] == "structure"
    assert issue(await client.post("/fhir/Subscription", json=[1], headers=OWN), 400)["expression"] == ["Subscription"]
    huge = await client.post("/fhir/Subscription", json=resource(reason="x" * 70_000), headers=OWN)
    assert issue(huge, 413)["code"] == "too-long"
    assert (await client.get("/api/subscriptions")).json()["total"] == 0


async def test_the_status_search_parameter_is_checked(client: httpx.AsyncClient) -> None:
    assert issue(await client.get("/fhir/Subscription", params={"status": "paused"}), 400)["expression"] == [
        "http.status"
    ]
    for status in ("requested", "error", "active,off"):
        assert (await client.get("/fhir/Subscription", params={"status": status})).json()["total"] == 0


async def test_an_operator_made_subscription_is_shown_to_its_receiver_and_to_no_other(
    client: httpx.AsyncClient,
) -> None:
    made = await client.post(
        "/api/subscriptions",
        json={"id": "by-operator", "receiver": "kommune-101", "topic": "*", "filters": {"municipality_code": "101"}},
    )
    assert made.status_code == 201, made.text
    shown = (await client.get("/fhir/Subscription/by-operator", headers=OWN)).json()
    assert shown["criteria"] == f"{TOPIC_BASE}any-event"
    assert shown["channel"]["type"] == "message"
    assert shown["reason"] == "subscription by-operator"  # R4 requires one; the operator gave none
    assert shown["_criteria"]["extension"][0]["valueString"] == "Bundle?municipality-code=101"
    issue(await client.get("/fhir/Subscription/by-operator", headers=OTHER), 404)
    assert (await client.get("/fhir/Subscription", headers=OTHER)).json()["total"] == 0
    assert (await client.get("/fhir/Subscription", headers=OWN, params={"status": "active"})).json()["total"] == 1


async def test_the_operator_creates_for_a_named_receiver(client: httpx.AsyncClient) -> None:
    named = [{"url": SUBSCRIBER_EXTENSION, "valueIdentifier": {"system": REGISTER_ID_SYSTEM, "value": "kommune-163"}}]
    made = await client.post("/fhir/Subscription", json=resource("Bundle?municipality-code=163", extension=named))
    assert made.status_code == 201, made.text
    stored = (await client.get(f"/api/subscriptions/{made.json()['id']}")).json()
    assert (stored["receiver"], stored["created_by"], stored["basis"]) == (
        "kommune-163",
        "operator",
        "residents: the municipality of residence",
    )
    unnamed = await client.post("/fhir/Subscription", json=resource("Bundle?municipality-code=163"))
    assert issue(unnamed, 400)["expression"] == ["Subscription.extension"]


async def test_put_keeps_the_receiver_and_the_id_and_needs_an_existing_one(client: httpx.AsyncClient) -> None:
    made = (await client.post("/fhir/Subscription", json=resource("Bundle?municipality-code=101"), headers=OWN)).json()
    path = f"/fhir/Subscription/{made['id']}"
    wrong_id = await client.put(path, json={**made, "id": "another"}, headers=OWN)
    assert issue(wrong_id, 400)["expression"] == ["Subscription.id"]
    to_other = {**made, "extension": [{**made["extension"][0], "valueIdentifier": {
        "system": REGISTER_ID_SYSTEM, "value": "kommune-163"}}]}  # fmt: skip
    moved = await client.put(path, json=to_other)  # the operator may name any receiver, but not move one
    assert issue(moved, 400)["expression"] == ["Subscription.extension[0]"]
    assert "is kommune-101; it cannot change" in issue(moved, 400)["diagnostics"]
    issue(await client.put("/fhir/Subscription/nothing-here", json=made, headers=OWN), 404)
    narrowed = await client.put(
        path, json=resource("Bundle?municipality-code=101", "Bundle?activity=admit-inpatient"), headers=OWN
    )
    assert narrowed.status_code == 200, narrowed.text
    assert len(narrowed.json()["_criteria"]["extension"]) == 2
    stored = (await client.get(f"/api/subscriptions/{made['id']}")).json()
    assert stored["filters"] == {"municipality_code": "101", "activity": ["admit-inpatient"]}
    issue(await client.delete(path, headers=OTHER), 404)
    assert (await client.delete(path, headers=OWN)).status_code == 204
    issue(await client.delete(path, headers=OWN), 404)
