"""A municipality's system subscribes itself with channel rest-hook (the Subscriptions Backport IG for R4), against a
real hub process, the real broker and a real HTTP endpoint of its own: the handshake, heartbeats, numbered event
notifications carrying the message; stopped for a while, it catches up through $status and $events with nothing
missed and nothing twice; the subscription survives a restart and keeps numbering; another organisation sees none
of it; an endpoint that refuses the handshake leaves the subscription in error until it answers.

The test register's policy lets municipalities subscribe to hospital notifications about their own residents;
forward-receiver is municipality 101, and the resident lives there.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from hub.broker.embedded import EmbeddedBroker, free_port
from hub.domain.message import read_facts
from tests.integration.hubtest import HubUnderTest, eventually, running_hub
from tests.integration.test_fhir_subscriptions import (
    BACKPORT,
    bearer,
    send_about_resident,
    subscription,
    write_patients,
)

pytestmark = pytest.mark.integration

HEARTBEAT = f"{BACKPORT}backport-heartbeat-period"
CONTENT = f"{BACKPORT}backport-payload-content"


@dataclass
class Endpoint:
    """The municipality system's notification endpoint: what it was sent, and whether it is up."""

    url: str = ""
    up: bool = True
    refuse_handshakes: bool = False
    notifications: list[dict[str, Any]] = field(default_factory=list)
    authorisations: list[str | None] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        if not self.up:
            return web.Response(status=503, text="down for maintenance")
        bundle = orjson.loads(await request.read())
        if self.refuse_handshakes and kind(bundle) == "handshake":
            return web.Response(status=500)
        self.notifications.append(bundle)
        self.authorisations.append(request.headers.get("Authorization"))
        return web.Response(status=200)

    def of_kind(self, wanted: str) -> list[dict[str, Any]]:
        return [n for n in self.notifications if kind(n) == wanted]

    def event_numbers(self) -> list[int]:
        return [number for n in self.of_kind("event-notification") for number in numbers(n)]


def status_of(bundle: dict[str, Any]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for parameter in bundle["entry"][0]["resource"]["parameter"]:
        value = next((v for k, v in parameter.items() if k.startswith("value") or k == "part"), None)
        found.setdefault(parameter["name"], []).append(value)
    return found


def kind(bundle: dict[str, Any]) -> str:
    return str(status_of(bundle)["type"][0])


def numbers(bundle: dict[str, Any]) -> list[int]:
    events = status_of(bundle).get("notification-event", [])
    return [int(next(p["valueString"] for p in parts if p["name"] == "event-number")) for parts in events]


def carried(bundle: dict[str, Any]) -> list[str | None]:
    """The MessageHeader ids of the messages the notification carries in full."""
    return [read_facts(e["resource"]).message_id for e in bundle["entry"][1:] if "resource" in e]


@asynccontextmanager
async def serving(endpoint: Endpoint) -> AsyncIterator[Endpoint]:
    app = web.Application()
    app.router.add_post("/notify", endpoint.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    endpoint.url = f"http://127.0.0.1:{port}/notify"
    try:
        yield endpoint
    finally:
        await runner.cleanup()


def rest_hook(endpoint: Endpoint, secret: str) -> dict[str, Any]:
    return {
        "type": "rest-hook",
        "endpoint": endpoint.url,
        "header": [f"Authorization: Bearer {secret}"],
        "payload": "application/fhir+json",
        "_payload": {"extension": [{"url": CONTENT, "valueCode": "full-resource"}]},
        "extension": [{"url": HEARTBEAT, "valueUnsignedInt": 1}],
    }


async def send(hub: HubUnderTest, api: httpx.AsyncClient) -> str:
    return (await send_about_resident(hub, api))[0]


async def parked(api: httpx.AsyncClient, receiver: str) -> int:
    listing = (await api.get("/api/receivers")).json()
    entry = next(r for r in listing["organisations"] if r["id"] == receiver)
    return int(entry["delivery"]["parked"])


async def test_a_municipality_system_is_notified_and_catches_up_on_what_it_missed(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    secret = secrets.token_urlsafe(16)
    async with (
        serving(Endpoint()) as endpoint,
        running_hub(
            bootstrap_servers=broker.bootstrap_servers,
            workdir=tmp_path / "hub",
            topic_prefix="resthook.",
            HUB_PATIENT_REGISTER_FILE=str(write_patients(tmp_path / "patients.yaml")),
            HUB_DELIVERY_BASE_DELAY_SECONDS="0.5",
            HUB_DELIVERY_MAX_DELAY_SECONDS="1",
            HUB_HEARTBEAT_SCAN_SECONDS="0.3",
        ) as hub,
        httpx.AsyncClient(base_url=hub.url, timeout=30) as api,
    ):
        own = bearer(hub, "forward-receiver")
        other = bearer(hub, "plejecenter-herlev")

        # --- subscribed: the endpoint takes the handshake, then heartbeats come ----------------------------
        created = await api.post(
            "/fhir/Subscription",
            json=subscription("Bundle?municipality-code=101", channel=rest_hook(endpoint, secret)),
            headers=own,
        )
        assert created.status_code == 201, created.text
        made = created.json()
        subscription_id = made["id"]
        assert (made["status"], made["channel"]["type"], made["channel"]["endpoint"]) == (
            "active",
            "rest-hook",
            endpoint.url,
        )
        operator_view = (await api.get(f"/api/subscriptions/{subscription_id}")).json()
        assert operator_view["rest_hook"]["headers"] == ["Authorization: ***"]  # the credential is the system's
        assert secret not in str(operator_view)
        [handshake] = endpoint.of_kind("handshake")
        assert status_of(handshake)["subscription"] == [{"reference": f"{hub.url}/fhir/Subscription/{subscription_id}"}]
        assert endpoint.authorisations[0] == f"Bearer {secret}"
        await eventually(lambda: len(endpoint.of_kind("heartbeat")) >= 2, timeout=30)

        # --- messages about the resident come as numbered notifications with the message inside ----------
        first = [await send(hub, api) for _ in range(3)]
        await eventually(lambda: len(endpoint.event_numbers()) == 3, timeout=90)
        assert endpoint.event_numbers() == [1, 2, 3]
        assert [m for n in endpoint.of_kind("event-notification") for m in carried(n)] == first
        register_endpoint = {r.facts.message_id for r in hub.receivers.received.get("forward-receiver", [])}
        assert not register_endpoint & set(first)  # the copies went as notifications, not to the register's endpoint

        # --- the system is down: the copies are numbered, tried and parked ---------------------------------
        endpoint.up = False
        missed = [await send(hub, api) for _ in range(3)]

        async def counted(wanted: int) -> bool:
            answer = (await api.get(f"/fhir/Subscription/{subscription_id}/$status", headers=own)).json()
            return status_of(answer)["events-since-subscription-start"] == [str(wanted)]

        await eventually(lambda: counted(6), timeout=90)
        await eventually(lambda: parked(api, "forward-receiver"), timeout=60)
        assert endpoint.event_numbers() == [1, 2, 3]

        # --- back, it first catches up through $events, then opens its endpoint again --------------------
        caught_up = await api.get(
            f"/fhir/Subscription/{subscription_id}/$events", params={"eventsSinceNumber": "4"}, headers=own
        )
        assert caught_up.status_code == 200, caught_up.text
        events = caught_up.json()
        assert kind(events) == "query-event"
        assert numbers(events) == [4, 5, 6]
        assert carried(events) == missed
        # what $events handed over is not pushed again: the parked copies leave the lane as delivered
        await eventually(lambda: _none_parked(api), timeout=60)
        endpoint.up = True
        latest = await send(hub, api)
        await eventually(lambda: 7 in endpoint.event_numbers(), timeout=90)
        seen = Counter([*endpoint.event_numbers(), *numbers(events)])
        assert sorted(seen) == list(range(1, 8)) and set(seen.values()) == {1}  # nothing missed, nothing twice
        assert carried(endpoint.of_kind("event-notification")[-1]) == [latest]

        # --- a posted Parameters asks the same; id-only points at GET /fhir/Bundle/<id> ------------------
        asked = await api.post(
            f"/fhir/Subscription/{subscription_id}/$events",
            json={
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "eventsSinceNumber", "valueString": "2"},
                    {"name": "eventsUntilNumber", "valueString": "3"},
                    {"name": "content", "valueCode": "id-only"},
                ],
            },
            headers=own,
        )
        focus = [e["fullUrl"] for e in asked.json()["entry"][1:]]
        assert numbers(asked.json()) == [2, 3] and len(focus) == 2
        read = await api.get(focus[0].removeprefix(hub.url), headers=own)
        assert read.status_code == 200 and read_facts(read.json()).message_id == first[1]
        assert (await api.get(focus[0].removeprefix(hub.url), headers=bearer(hub, "closed-gp"))).status_code == 404

        # --- nobody else sees it ------------------------------------------------------------------------
        for operation in ("$status", "$events"):
            assert (
                await api.get(f"/fhir/Subscription/{subscription_id}/{operation}", headers=other)
            ).status_code == 404
        bad = await api.get(
            f"/fhir/Subscription/{subscription_id}/$events", params={"eventsSinceNumber": "x"}, headers=own
        )
        assert bad.status_code == 400 and bad.json()["issue"][0]["expression"] == ["eventsSinceNumber"]

        # --- it survives a restart of the hub and goes on numbering --------------------------------------
        assert await hub.process.terminate() == 0
        await hub.process.start()
        after = await send(hub, api)
        await eventually(lambda: 8 in endpoint.event_numbers(), timeout=90)
        assert carried(endpoint.of_kind("event-notification")[-1]) == [after]
        assert Counter(endpoint.event_numbers())[8] == 1

        # --- an endpoint that refuses the handshake: error, until it answers -----------------------------
        endpoint.refuse_handshakes = True
        failing = await api.post(
            "/fhir/Subscription",
            json=subscription("Bundle?municipality-code=101", channel=rest_hook(endpoint, secret)),
            headers=own,
        )
        assert failing.status_code == 201, failing.text
        refused = failing.json()
        assert refused["status"] == "error"
        assert "handshake failed" in refused["error"] and "HTTP 500" in refused["error"]
        endpoint.refuse_handshakes = False
        retried = await api.put(
            f"/fhir/Subscription/{refused['id']}", json={**refused, "status": "requested"}, headers=own
        )
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] == "active" and "error" not in retried.json()
        assert (await api.delete(f"/fhir/Subscription/{refused['id']}", headers=own)).status_code == 204


async def _none_parked(api: httpx.AsyncClient) -> bool:
    return await parked(api, "forward-receiver") == 0
