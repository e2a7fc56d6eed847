"""A receiver without an HTTP endpoint pulls its messages from its mailbox, with its own token."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
import orjson
import pytest

from hub.simulate.generator import MessageGenerator
from tests.integration.hubtest import HubUnderTest, eventually, post_message, wait_for_status

pytestmark = pytest.mark.integration


async def test_mailbox_receiver_fetches_confirms_and_acknowledges(hub: HubUnderTest, api: httpx.AsyncClient) -> None:
    hospital = hub.register.by_id("herlev-hjerte")
    gp = hub.register.by_id("mailbox-gp")
    assert hospital is not None and gp is not None
    message = MessageGenerator(seed=7).care_communication(sender=hospital.ref, receiver=gp.ref, now=datetime.now(UTC))
    raw = orjson.dumps(message)
    response = await post_message(api, raw, token=hub.token("herlev-hjerte"))
    assert response.status_code == 202, response.text
    tracking_id = response.headers["X-Hub-Tracking-Id"]
    await wait_for_status(api, tracking_id, "delivered")

    mine = {"Authorization": f"Bearer {hub.token('mailbox-gp')}"}
    listing = await api.get("/mailbox", headers=mine)
    assert listing.status_code == 200
    items = [i for i in listing.json()["items"] if i["tracking_id"] == tracking_id]
    assert len(items) == 1
    assert base64.b64decode(items[0]["message_base64"]) == raw  # the original bytes, untouched

    single = await api.get(f"/mailbox/{items[0]['id']}", headers=mine)
    assert single.status_code == 200 and single.content == raw
    assert single.headers["content-type"].startswith("application/fhir+json")

    # nobody else sees it or can take it
    other = {"Authorization": f"Bearer {hub.token('plejecenter-herlev')}"}
    assert all(i["tracking_id"] != tracking_id for i in (await api.get("/mailbox", headers=other)).json()["items"])
    assert (await api.get(f"/mailbox/{items[0]['id']}", headers=other)).status_code == 404
    assert (await api.post(f"/mailbox/{items[0]['id']}/ack", headers=other)).status_code == 404
    assert (await api.get("/mailbox")).status_code == 401

    # the simulated GP system takes it, confirms it and answers with an Acknowledgement
    assert await hub.receivers.poll_mailboxes_once() >= 1
    assert all(i["tracking_id"] != tracking_id for i in (await api.get("/mailbox", headers=mine)).json()["items"])
    record = await wait_for_status(api, tracking_id, "acknowledged")
    steps = [s["step"] for s in record["timeline"]]
    assert "fetched" in steps and "acknowledged" in steps
    assert await eventually(
        lambda: [
            m
            for m in hub.receivers.received.get("herlev-hjerte", [])
            if m.facts.response and m.facts.response.identifier == message["entry"][0]["resource"]["id"]
        ]
    )
