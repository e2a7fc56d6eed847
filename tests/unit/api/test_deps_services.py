"""The operator, mailbox, dead-letter and health routes answer with only their services on ``app.state`` (as
hub.api.deps.provide puts them there): no Runtime. Real stores on a SQLite file, a publisher that records."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hub.api import dead_letters, health, mailbox, metrics, operator
from hub.api.identity import Authenticator
from hub.api.refusals import install_refusal_handlers
from hub.audit.reads import ReadAudit
from hub.broker.progress import WorkerProgress
from hub.broker.records import OutboxRecord
from hub.broker.topics import Topics
from hub.deliver.mailbox import Mailbox, MailboxStore
from hub.deliver.parking import DeadLetterStore
from hub.deliver.redrive import Redrive
from hub.domain.tracking import Step, TrackingEvent
from hub.route.register import hash_token, parse_register
from hub.runtime import Health
from hub.settings import HubSettings
from hub.store.engine import open_database
from hub.track.store import TrackingStore

TOPICS = Topics("t.")
GP_TOKEN = "token-gp"


class Publisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, Any]] = []

    async def send_and_wait(self, topic: str, *, key: bytes, value: bytes, headers: Any = None) -> None:
        self.sent.append((topic, key, value, headers))

    async def send_all(self, records: Sequence[tuple[str, bytes, bytes, Any]]) -> None:
        self.sent.extend(records)

    def steps(self) -> list[Step]:
        return [TrackingEvent.from_bytes(value).step for topic, _, value, _ in self.sent if topic == TOPICS.events]


class Hub:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, publisher: Publisher) -> None:
        self.app, self.client, self.publisher = app, client, publisher
        self.mailbox: MailboxStore = app.state.mailbox.store
        self.dead_letters: DeadLetterStore = app.state.dead_letters


def register() -> Any:
    gp = {
        "id": "gp",
        "name": "GP",
        "kind": "gp",
        "sor": "200000000000002",
        "token_sha256": hash_token(GP_TOKEN),
        "endpoint": {"kind": "mailbox"},
        "accepts": ["acknowledgement-message"],
    }
    return parse_register({"hub": {"name": "hub", "sor": "900000000000001"}, "organisations": [gp]}, source="test")


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    engine = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")
    publisher = Publisher()
    app = FastAPI()
    for module in (operator, dead_letters, mailbox, health, metrics):
        app.include_router(module.router)
    install_refusal_handlers(app)
    tracking, dead = TrackingStore(engine), DeadLetterStore(engine)
    state = app.state  # what hub.api.deps.provide puts there, without `runtime`
    state.settings = HubSettings(operator_token=None, _env_file=None)
    state.register = register()
    state.tracking = tracking
    state.mailbox = Mailbox(tracking.mailbox, publisher, TOPICS)
    state.dead_letters = dead
    state.redrive = Redrive(dead, publisher, TOPICS)
    state.circuits = lambda: {"gp": {"circuit": "open", "parked": 2, "in_flight": 0}}
    state.progress = {"delivery": WorkerProgress("delivery")}
    state.consumers = {}
    state.health = Health(tracking.ping, lambda: [], lambda: [])
    state.authenticator = Authenticator(state.settings, state.register)
    state.read_audit = ReadAudit(engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as client:
        yield Hub(app, client, publisher)
    await engine.dispose()


async def test_the_mailbox_lists_fetches_and_confirms(hub: Hub) -> None:
    await hub.mailbox.put(receiver="gp", tracking_id="t1", message_id="m1", event="e", body=b'{"a": 1}')
    auth = {"Authorization": f"Bearer {GP_TOKEN}"}
    listing = (await hub.client.get("/mailbox", headers=auth)).json()
    (item,) = listing["items"]
    assert listing["receiver"] == "gp"
    assert (item["tracking_id"], item["href"]) == ("t1", f"/mailbox/{item['id']}")
    assert base64.b64decode(item["message_base64"]) == b'{"a": 1}'
    fetched = await hub.client.get(item["href"], headers=auth)
    assert fetched.content == b'{"a": 1}' and fetched.headers["X-Hub-Tracking-Id"] == "t1"
    assert (await hub.client.post(f"{item['href']}/ack", headers=auth)).status_code == 204
    assert hub.publisher.steps() == [Step.FETCHED]
    assert (await hub.client.get("/mailbox", headers=auth)).json()["items"] == []
    missing = await hub.client.post(f"/mailbox/{item['id'] + 1}/ack", headers=auth)
    assert missing.status_code == 404 and missing.json()["issue"][0]["code"] == "not-found"
    assert hub.publisher.steps() == [Step.FETCHED]


async def test_dead_letters_are_listed_and_redriven(hub: Hub) -> None:
    ids = [
        await hub.dead_letters.add(OutboxRecord(f"t{n}", f"m{n}", "gp", "e", b"{}", "p"), reason="500", attempts=())
        for n in range(3)
    ]
    listed = (await hub.client.get("/api/dead-letters")).json()["dead_letters"]
    assert [d["id"] for d in listed] == ids
    one = await hub.client.post(f"/api/dead-letters/{ids[0]}/redrive")
    assert one.json() == {"redriven": [{"dead_letter": ids[0], "tracking_id": "t0", "receiver": "gp"}]}
    again = await hub.client.post(f"/api/dead-letters/{ids[0]}/redrive")
    assert again.status_code == 404 and again.json()["issue"][0]["code"] == "not-found"
    many = (await hub.client.post("/api/dead-letters/redrive", params={"receiver": "gp"})).json()
    assert [r["dead_letter"] for r in many["redriven"]] == ids[1:]
    assert hub.publisher.steps() == [Step.REDRIVEN] * 3
    assert sum(topic == TOPICS.outbox for topic, *_ in hub.publisher.sent) == 3


async def test_operator_health_and_metrics_answer(hub: Hub) -> None:
    assert (await hub.client.get("/api/messages")).json() == {"total": 0, "limit": 100, "offset": 0, "messages": []}
    assert (await hub.client.get("/api/messages/nothing")).status_code == 404
    receivers = (await hub.client.get("/api/receivers")).json()
    assert receivers["hub"] == {"name": "hub", "sor": "900000000000001"}
    assert receivers["organisations"][0]["delivery"] == {"circuit": "open", "parked": 2, "in_flight": 0}
    ready = await hub.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"store": "ok", "workers": "ok"}
    text = (await hub.client.get("/metrics")).text
    assert 'hub_circuit_open{receiver="gp"} 1.0' in text and "hub_dead_letters 0.0" in text


async def test_readiness_reports_a_stopped_worker(hub: Hub) -> None:
    hub.app.state.health = Health(hub.app.state.tracking.ping, lambda: ["recorder"], lambda: [])
    ready = await hub.client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["workers"] == "stopped: recorder"
