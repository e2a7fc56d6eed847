"""`hub demo` as a user starts it: the banner's curl lines answer as it says (the hospital's own messages, a
dead letter, the failed message whose sender heard of it), and Ctrl-C stops everything."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.broker.embedded import free_port
from tests.integration.hubtest import eventually

pytestmark = pytest.mark.integration

HOSPITAL = "region-h-herlev"  # the first hospital of schemas/demo-register.yaml: the one the banner uses
SUBSCRIBER = "kommune-aalborg"  # the municipality whose system subscribes itself (hub.simulate.demo.SELF_SUBSCRIBER)


async def test_the_demo_banner_lines_work_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "KAFKA_"))}
    environment |= {"HUB_PORT": str(port), "HUB_MLLP_PORT": str(free_port())}
    demo = subprocess.Popen(
        [sys.executable, "-m", "hub", "demo", "--rate", "12"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None
        banner = await asyncio.wait_for(asyncio.to_thread(_read_until, demo.stdout, "Press Ctrl-C"), 120)
        own = f"-H 'Authorization: Bearer demo-{HOSPITAL}'"
        assert f"/api/messages?limit=5' {own}" in banner and "/api/dead-letters" in banner
        assert f"/api/messages?status=failed&limit=1' {own}" in banner

        hospital = {"Authorization": f"Bearer demo-{HOSPITAL}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

            async def own_messages() -> list[dict[str, Any]]:
                found = (await client.get("/api/messages", params={"limit": 50}, headers=hospital)).json()
                return list(found["messages"])

            listed = await eventually(own_messages, timeout=60)
            for message in listed:
                receivers = {d["receiver"] for d in message["receivers"]}
                assert message["sender"] == HOSPITAL or receivers == {HOSPITAL}

            async def failed_and_notified() -> dict[str, Any] | None:
                failed = await client.get("/api/messages", params={"status": "failed", "limit": 20}, headers=hospital)
                for message in failed.json()["messages"]:
                    timeline = (await client.get(f"/api/messages/{message['tracking_id']}", headers=hospital)).json()
                    if any(step["step"] == "sender-notified" for step in timeline["timeline"]):
                        return dict(timeline)
                return None

            notified = await eventually(failed_and_notified, timeout=150, interval=2)
            assert notified["sender"] == HOSPITAL
            dead = await client.get("/api/dead-letters", params={"tracking_id": notified["tracking_id"]})
            assert [d["receiver"] for d in dead.json()["dead_letters"]], dead.text
            answers = (
                await client.get("/api/messages", params={"sender": "hub", "limit": 100}, headers=hospital)
            ).json()
            assert answers["total"] >= 1
            figures = (await client.get("/api/figures", headers=hospital)).json()
            assert figures["organisation"] == HOSPITAL and figures["messages"]["by_status"].get("failed", 0) >= 1

            # the municipality that subscribed itself through the FHIR API gets copies through that subscription
            municipality = {"Authorization": f"Bearer demo-{SUBSCRIBER}"}
            own = (await client.get("/fhir/Subscription", headers=municipality)).json()
            (subscription,) = [e["resource"] for e in own["entry"]]
            assert subscription["status"] == "active" and f"id {subscription['id']}" in banner
            assert subscription["channel"]["type"] == "rest-hook"  # notifications to its own endpoint

            async def copy_through_its_subscription() -> dict[str, Any] | None:
                found = await client.get(
                    "/api/messages", params={"receiver": SUBSCRIBER, "limit": 50}, headers=municipality
                )
                for message in found.json()["messages"]:
                    timeline = (
                        await client.get(f"/api/messages/{message['tracking_id']}", headers=municipality)
                    ).json()
                    # taken by its endpoint as a notification, and the message inside acknowledged by its system
                    if not any(
                        d["receiver"] == SUBSCRIBER and d["status"] == "acknowledged" for d in timeline["receivers"]
                    ):
                        continue
                    for step in timeline["timeline"]:
                        for line in step["detail"].get("receivers", []) if step["step"] == "routed" else []:
                            if line["use"] == "subscription" and subscription["id"] in line["reason"]:
                                return dict(line)
                return None

            routed = await eventually(copy_through_its_subscription, timeout=150, interval=2)
            assert routed["receiver"] == SUBSCRIBER and "municipality-of-residence" in routed["basis"]
            assert routed["subscription"] == subscription["id"]  # the copy went as that subscription's notification
            status = await client.get(f"/fhir/Subscription/{subscription['id']}/$status", headers=municipality)
            [count] = [
                p["valueString"]
                for p in status.json()["entry"][0]["resource"]["parameter"]
                if p["name"] == "events-since-subscription-start"
            ]
            assert int(count) >= 1
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            rest, _ = demo.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            demo.kill()
            rest, _ = demo.communicate()
    assert demo.returncode == 0, rest[-3000:]
    assert "Stopped." in rest
    assert f"{SUBSCRIBER}'s rest-hook endpoint: 1 handshake, " in rest  # its notifications, as the demo shows them


def _read_until(stream: Any, marker: str) -> str:
    seen: list[str] = []
    for line in stream:
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError("the demo ended before its banner:\n" + "".join(seen)[-3000:])
