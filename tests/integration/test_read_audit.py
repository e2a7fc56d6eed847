"""The audit of reads through a running hub with an operator token (SQLite, or ``--database postgresql``): the
operator's CPR search is one entry naming the operator, with the patient pseudonymised and no CPR number anywhere
in the audit's answer; an organisation's reads, a mailbox fetch, an administrator's read of the CPR number and an
audit query by patient are recorded; the audit is found per patient and per person; the retention purge removes
entries older than the retention and keeps the newer."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hub.simulate.generator import MessageGenerator
from hub.store.engine import open_database
from hub.store.purge import Purge
from hub.store.retention import Kind, RetentionPolicy
from hub.store.tables import purged
from tests.integration.hubtest import OPERATOR_TOKEN, HubUnderTest, eventually, post_message

pytestmark = pytest.mark.integration

PSEUDONYM = re.compile(r"^[0-9a-f]{64}$")
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
GENERATOR = MessageGenerator(seed=4711)


@pytest.fixture
async def client(guarded_hub: HubUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=guarded_hub.url, timeout=60) as client:
        yield client


def as_(hub: HubUnderTest, organisation_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.token(organisation_id)}"}


async def send(
    hub: HubUnderTest, client: httpx.AsyncClient, sender_id: str, receiver_id: str, patient: str, *statuses: str
) -> str:
    """A message about ``patient``, waited for with the sender's own token (the operator reads nothing meanwhile)."""
    sender, receiver = hub.register.by_id(sender_id), hub.register.by_id(receiver_id)
    assert sender is not None and receiver is not None
    message = GENERATOR.care_communication(
        sender=sender.ref, receiver=receiver.ref, patient_cpr=patient, now=datetime.now(UTC)
    )
    response = await post_message(client, message, token=hub.token(sender_id))
    assert response.status_code == 202, response.text
    tracking_id: str = response.headers["X-Hub-Tracking-Id"]

    async def reached() -> bool:
        read = await client.get(f"/api/messages/{tracking_id}", headers=as_(hub, sender_id))
        return read.status_code == 200 and read.json()["status"] in statuses

    await eventually(reached)
    return tracking_id


async def audit(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await client.get("/api/audit/reads", params=params, headers=OPERATOR)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def no_cpr_in(response_text: str, cpr: str) -> bool:
    return cpr not in response_text and f"{cpr[:6]}-{cpr[6:]}" not in response_text


async def test_the_operator_s_cpr_search_is_one_entry_naming_the_operator_with_the_patient_pseudonymised(
    guarded_hub: HubUnderTest, client: httpx.AsyncClient
) -> None:
    cpr = GENERATOR.fictional_cpr()
    tracking_id = await send(guarded_hub, client, "herlev-hjerte", "plejecenter-herlev", cpr, "acknowledged")

    searched = await client.get("/api/messages", params={"patient": cpr}, headers=OPERATOR)
    assert searched.status_code == 200 and [m["tracking_id"] for m in searched.json()["messages"]] == [tracking_id]

    response = await client.get("/api/audit/reads", params={"patient": cpr, "person": "operator"}, headers=OPERATOR)
    assert response.status_code == 200, response.text
    assert no_cpr_in(response.text, cpr)
    assert response.json()["total"] == 1
    [entry] = response.json()["entries"]
    assert (entry["person"], entry["role"], entry["organisation"]) == ("operator", "administrator", None)
    assert (entry["action"], entry["what"], entry["outcome"]) == ("search messages", "messages search", "ok")
    assert entry["address"] == "127.0.0.1"
    [patient] = entry["patients"]
    assert PSEUDONYM.match(patient)
    assert entry["query"] == {"patient": f"pseudonym:{patient}"}
    event = entry["audit_event"]
    assert (event["resourceType"], event["type"]["code"], event["action"]) == ("AuditEvent", "rest", "E")
    assert event["subtype"][0]["code"] == "search-type"
    assert event["agent"][0]["who"]["identifier"]["value"] == "operator"
    assert event["entity"][1]["what"]["identifier"]["value"] == patient

    # asking the audit by patient was itself a read of patient data: the second answer shows the first
    again = await audit(client, patient=cpr, person="operator")
    assert [e["action"] for e in again["entries"]] == ["query read audit", "search messages"]
    assert again["entries"][0]["patients"] == [patient]
    # per patient, the hospital's own reads of its message are there too
    everyone = await audit(client, patient=cpr)
    assert {"operator", "herlev-hjerte"} <= {e["person"] for e in everyone["entries"]}
    assert all(e["patients"] == [patient] for e in everyone["entries"])


async def test_an_organisation_reading_its_message_is_named_in_the_entry(
    guarded_hub: HubUnderTest, client: httpx.AsyncClient
) -> None:
    cpr = GENERATOR.fictional_cpr()
    tracking_id = await send(guarded_hub, client, "herlev-hjerte", "plejecenter-herlev", cpr, "acknowledged")
    assert (await audit(client, patient=cpr, person="plejecenter-herlev"))["total"] == 0

    read = await client.get(f"/api/messages/{tracking_id}", headers=as_(guarded_hub, "plejecenter-herlev"))
    assert read.status_code == 200, read.text

    found = await audit(client, patient=cpr, person="plejecenter-herlev")
    [entry] = found["entries"]
    assert (entry["person"], entry["organisation"], entry["role"]) == (
        "plejecenter-herlev",
        "plejecenter-herlev",
        "organisation",
    )
    assert (entry["action"], entry["what"]) == ("read message", f"/api/messages/{tracking_id}")
    assert entry["audit_event"]["agent"][0]["who"]["identifier"]["value"] == "plejecenter-herlev"
    by_organisation = await audit(client, organisation="plejecenter-herlev")
    assert entry["id"] in {e["id"] for e in by_organisation["entries"]}

    # the EDS view of the same message, by CPR number and by id, is recorded as well
    search = await client.get("/fhir/AuditEvent", params={"cpr": cpr}, headers=as_(guarded_hub, "plejecenter-herlev"))
    assert search.status_code == 200, search.text
    some_id = search.json()["entry"][0]["resource"]["id"]
    one = await client.get(f"/fhir/AuditEvent/{some_id}", headers=as_(guarded_hub, "plejecenter-herlev"))
    assert one.status_code == 200, one.text
    fhir = (await audit(client, patient=cpr, person="plejecenter-herlev"))["entries"]
    assert [e["action"] for e in fhir] == ["read AuditEvent", "search AuditEvent", "read message"]
    assert fhir[1]["query"] == {"cpr": f"pseudonym:{fhir[1]['patients'][0]}"}


async def test_a_mailbox_fetch_is_recorded_naming_the_organisation(
    guarded_hub: HubUnderTest, client: httpx.AsyncClient
) -> None:
    cpr = GENERATOR.fictional_cpr()
    tracking_id = await send(guarded_hub, client, "herlev-hjerte", "mailbox-gp", cpr, "delivered")
    gp = as_(guarded_hub, "mailbox-gp")

    listing = await client.get("/mailbox", headers=gp)
    assert listing.status_code == 200
    [item] = [i for i in listing.json()["items"] if i["tracking_id"] == tracking_id]
    fetched = await client.get(f"/mailbox/{item['id']}", headers=gp)
    assert fetched.status_code == 200

    found = await audit(client, patient=cpr, person="mailbox-gp")
    assert [(e["action"], e["what"]) for e in found["entries"]] == [
        ("fetch mailbox item", f"/mailbox/{item['id']}"),
        ("list mailbox", "/mailbox of mailbox-gp"),
    ]
    assert all(e["organisation"] == "mailbox-gp" for e in found["entries"])


async def test_an_administrator_reads_the_cpr_number_and_that_read_is_recorded(
    guarded_hub: HubUnderTest, client: httpx.AsyncClient
) -> None:
    cpr = GENERATOR.fictional_cpr()
    tracking_id = await send(guarded_hub, client, "herlev-hjerte", "plejecenter-herlev", cpr, "acknowledged")

    shown = await client.get(f"/api/messages/{tracking_id}/patient", headers=OPERATOR)
    assert shown.status_code == 200, shown.text
    assert shown.json() == {"tracking_id": tracking_id, "patient": cpr}
    refused = await client.get(f"/api/messages/{tracking_id}/patient", headers=as_(guarded_hub, "herlev-hjerte"))
    assert refused.status_code == 403
    assert (await client.get("/api/messages/no-such-message/patient", headers=OPERATOR)).status_code == 404

    found = await audit(client, patient=cpr, person="operator")
    [entry] = found["entries"]
    assert (entry["action"], entry["what"]) == ("read personal data", f"/api/messages/{tracking_id}/patient")
    assert (await client.get("/api/audit/reads", headers=as_(guarded_hub, "herlev-hjerte"))).status_code == 403


async def test_the_retention_purge_removes_entries_older_than_the_retention(
    guarded_hub: HubUnderTest, client: httpx.AsyncClient
) -> None:
    cpr = GENERATOR.fictional_cpr()
    tracking_id = await send(guarded_hub, client, "herlev-hjerte", "plejecenter-herlev", cpr, "acknowledged")
    assert (await client.get(f"/api/messages/{tracking_id}/patient", headers=OPERATOR)).status_code == 200
    between = datetime.now(UTC)  # after the first read was recorded, before the second
    assert (await client.get("/api/messages", params={"patient": cpr}, headers=OPERATOR)).status_code == 200
    before = [e["action"] for e in (await audit(client, person="operator", patient=cpr))["entries"]]
    assert before == ["search messages", "read personal data"]

    # kept one day, and a day later: what was recorded before `between` has outlived it; nothing else goes
    policy = RetentionPolicy(
        archive_days=0, tracking_days=0, mailbox_days=0, ledger_days=0, dead_letter_days=0, read_audit_days=1
    )
    engine = await open_database(guarded_hub.process.env["HUB_DATABASE_URL"], migrate_schema=False)
    try:
        report = await Purge(engine, policy).run(now=between + timedelta(days=1))
        async with engine.connect() as connection:
            counts = (await connection.execute(sa.select(purged).where(purged.c.kind == "read_audit"))).mappings().all()
    finally:
        await engine.dispose()
    assert report.total(Kind.READ_AUDIT) >= 1
    assert set(report.totals()) == {str(k) for k in Kind} and report.total(Kind.TRACKING) == 0
    assert {"read personal data"} <= {row["event"] for row in counts}
    assert all(row["sender"] is None for row in counts)  # the counts name nobody

    after = await audit(client, person="operator", patient=cpr)
    assert [e["action"] for e in after["entries"]] == ["query read audit", "search messages"]
