"""The operator API: search, timeline, register, health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hub.simulate.generator import MessageGenerator
from tests.integration.hubtest import HubUnderTest, post_message, wait_for_status

pytestmark = pytest.mark.integration


async def test_search_by_patient_sender_receiver_event_and_time(hub: HubUnderTest, api: httpx.AsyncClient) -> None:
    generator = MessageGenerator(seed=11)
    hospital, municipality = hub.register.by_id("herlev-hjerte"), hub.register.by_id("plejecenter-herlev")
    assert hospital is not None and municipality is not None
    patient = generator.fictional_cpr()
    started = datetime.now(UTC) - timedelta(seconds=1)
    message = generator.hospital_notification(
        sender=hospital.ref, receiver=municipality.ref, patient_cpr=patient, event="STIN", now=datetime.now(UTC)
    )
    response = await post_message(api, message, token=hub.token("herlev-hjerte"))
    assert response.status_code == 202, response.text
    tracking_id = response.headers["X-Hub-Tracking-Id"]
    await wait_for_status(api, tracking_id, "acknowledged")

    params = {
        "patient": patient,
        "sender": "herlev-hjerte",
        "receiver": "plejecenter-herlev",
        "event": "hospital-notification-message",
        "status": "acknowledged",
        "since": started.isoformat(),
    }
    found = (await api.get("/api/messages", params=params)).json()
    assert [m["tracking_id"] for m in found["messages"]] == [tracking_id]
    assert found["messages"][0]["patient"] == f"{patient[:6]}-xxxx"  # masked
    assert patient not in (await api.get(f"/api/messages/{tracking_id}")).text

    assert (await api.get("/api/messages", params={**params, "receiver": "closed-gp"})).json()["total"] == 0
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await api.get("/api/messages", params={**params, "since": later})).json()["total"] == 0


async def test_bad_parameters_and_unknown_ids_are_explained(api: httpx.AsyncClient) -> None:
    bad = await api.get("/api/messages", params={"status": "lost"})
    assert bad.status_code == 400
    assert bad.json()["issue"][0]["expression"] == ["query.status"]
    missing = await api.get("/api/messages/no-such-id")
    assert missing.status_code == 404
    assert "no-such-id" in missing.json()["issue"][0]["diagnostics"]


async def test_register_is_listed_without_credentials(api: httpx.AsyncClient) -> None:
    listing = (await api.get("/api/receivers")).json()
    ids = {o["id"] for o in listing["organisations"]}
    assert {"herlev-hjerte", "mailbox-gp"} <= ids
    assert "token_sha256" not in str(listing) and "test-push" not in str(listing)


async def test_health(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"store": "ok", "workers": "ok"}
