"""The audit of reads over HTTP on a real SQLite file (open operator API: the caller is the administrator): the CPR
number of a message shown in full and that read recorded, the audit queried by patient, and a read that cannot be
recorded refused with 503 without the message in the answer."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from hub.api import operator, read_audit
from hub.api.identity import Authenticator
from hub.api.refusals import install_refusal_handlers
from hub.audit.reads import ReadAudit
from hub.domain.tracking import Step, TrackingEvent
from hub.route.register import parse_register
from hub.settings import HubSettings
from hub.store.engine import open_database
from hub.track.store import TrackingStore

CPR = "2509479989"


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "hub.sqlite3"


@pytest.fixture
async def client(database: Path) -> AsyncIterator[httpx.AsyncClient]:
    engine = await open_database(f"sqlite+aiosqlite:///{database}")
    tracking = TrackingStore(engine)
    await tracking.record(
        [
            TrackingEvent(
                Step.RECEIVED,
                "t-1",
                message_id="m-1",
                event="care-communication-message",
                sender="hospital",
                patient=CPR,
                at="2026-12-06T10:00:00.000000+00:00",
                detail={"connector": "http", "bundle_id": "b-1"},
            )
        ]
    )
    app = FastAPI()
    app.include_router(operator.router)
    app.include_router(read_audit.router)
    install_refusal_handlers(app)
    app.state.settings = HubSettings(operator_token=None, _env_file=None)
    app.state.register = parse_register(
        {"hub": {"name": "hub", "sor": "900000000000001"}, "organisations": []}, source="t"
    )
    app.state.tracking = tracking
    app.state.authenticator = Authenticator(app.state.settings, app.state.register)
    app.state.read_audit = ReadAudit(engine, "a configured key of sixteen or more")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as client:
        yield client
    await engine.dispose()


async def test_the_administrator_reads_the_cpr_number_and_the_audit_shows_that_read_by_pseudonym(
    client: httpx.AsyncClient,
) -> None:
    shown = await client.get("/api/messages/t-1/patient")
    assert shown.status_code == 200 and shown.json() == {"tracking_id": "t-1", "patient": CPR}
    assert (await client.get("/api/messages/no-such/patient")).status_code == 404

    found = await client.get("/api/audit/reads", params={"patient": CPR})
    assert found.status_code == 200 and CPR not in found.text
    [entry] = found.json()["entries"]
    assert (entry["action"], entry["person"], entry["role"]) == ("read personal data", "operator", "administrator")
    assert entry["audit_event"]["entity"][1]["what"]["identifier"]["value"] == entry["patients"][0]
    # that query was by patient: recorded too, and seen by the next
    again = (await client.get("/api/audit/reads", params={"person": "operator"})).json()
    assert [e["action"] for e in again["entries"]] == ["query read audit", "read personal data"]
    refused = await client.get("/api/audit/reads", params={"since": "2026-12-02T00:00:00Z", "until": "2026-12-01"})
    assert refused.status_code == 400


async def test_a_read_that_cannot_be_recorded_is_refused_with_503_and_shows_nothing(
    client: httpx.AsyncClient, database: Path
) -> None:
    assert (await client.get("/api/messages/t-1")).status_code == 200
    with sqlite3.connect(database) as connection:
        connection.execute("DROP TABLE read_audit")
    for path in ("/api/messages/t-1", "/api/messages/t-1/patient", f"/api/messages?patient={CPR}"):
        refused = await client.get(path)
        assert refused.status_code == 503, path
        assert refused.json()["resourceType"] == "OperationOutcome" and "t-1" not in refused.text
