"""An entry of the audit of reads as a FHIR AuditEvent: a RESTful read or search, the requestor an operator or an
organisation's system, the patients by pseudonym only; and the entry as stored and read back."""

from __future__ import annotations

import base64

import orjson

from hub.audit.entries import (
    ORGANISATION_ROLE,
    PSEUDONYM_SYSTEM,
    ReadEntry,
    audit_event,
    entry_from_row,
    is_search,
    new_entry,
)
from hub.domain.operators import Role, Viewer

ALICE = Viewer(person="alice", role=Role.ADMINISTRATOR, address="10.0.0.7")
HOSPITAL = Viewer("herlev-hjerte", person="herlev-hjerte", address="10.0.0.9")
PSEUDONYM = "ab" * 32


def entry(viewer: Viewer, action: str, *, query: dict[str, str] | None = None, outcome: str = "ok") -> ReadEntry:
    return new_entry(
        viewer,
        entry_id="e1",
        recorded_at="2026-12-06T21:00:00.000000+00:00",
        action=action,
        what="/api/messages/t-1",
        patients=[PSEUDONYM],
        query=query or {},
        outcome=outcome,
    )


def test_searches_and_listings_are_searches_reads_of_one_resource_are_not() -> None:
    assert is_search("search messages") and is_search("list mailbox") and is_search("query read audit")
    assert is_search("console: search messages")
    assert not is_search("read message") and not is_search("fetch mailbox item")
    assert not is_search("console: message timeline") and not is_search("read personal data")


def test_the_read_of_one_message_is_a_rest_read_by_a_human_user_about_a_pseudonymous_patient() -> None:
    event = audit_event(entry(ALICE, "read message"))
    assert event["resourceType"] == "AuditEvent"
    assert event["type"]["code"] == "rest"
    assert event["subtype"][0]["code"] == "read" and event["action"] == "R"
    assert event["recorded"] == "2026-12-06T21:00:00.000000+00:00" and event["outcome"] == "0"
    [agent] = event["agent"]
    assert agent["requestor"] is True
    assert agent["who"]["identifier"]["value"] == "alice" and agent["role"] == [{"text": "administrator"}]
    assert agent["type"]["coding"][0]["code"] == "humanuser"
    assert agent["network"] == {"address": "10.0.0.7", "type": "2"}
    resource, patient = event["entity"]
    assert resource["what"] == {"display": "/api/messages/t-1"} and "query" not in resource
    assert patient["what"]["identifier"] == {"system": PSEUDONYM_SYSTEM, "value": PSEUDONYM}
    assert patient["role"]["code"] == "1"  # Patient


def test_a_search_is_executed_with_its_query_and_an_organisation_s_system_is_an_application() -> None:
    found = entry(HOSPITAL, "search messages", query={"patient": f"pseudonym:{PSEUDONYM}", "limit": "10"})
    assert found.role == ORGANISATION_ROLE and found.organisation == "herlev-hjerte" and found.person == "herlev-hjerte"
    event = audit_event(found)
    assert event["subtype"][0]["code"] == "search-type" and event["action"] == "E"
    [agent] = event["agent"]
    assert agent["type"]["coding"][0]["code"] == "110150"  # DICOM: Application
    assert agent["who"]["identifier"]["value"] == "herlev-hjerte"
    query = base64.b64decode(event["entity"][0]["query"]).decode()
    assert query == f"patient=pseudonym:{PSEUDONYM}&limit=10"


def test_an_outcome_other_than_ok_is_a_failure_said_in_words() -> None:
    event = audit_event(entry(ALICE, "read message", outcome="refused"))
    assert (event["outcome"], event["outcomeDesc"]) == ("4", "refused")
    assert audit_event(entry(ALICE, "read message", outcome="failed"))["outcome"] == "8"


def test_an_entry_read_back_from_its_row_is_the_same_entry() -> None:
    written = entry(ALICE, "search messages", query={"status": "acknowledged"})
    row = written.as_row()
    assert orjson.loads(row["query"]) == {"status": "acknowledged"} and "patients" not in row
    assert entry_from_row(row, [PSEUDONYM]) == written
    shown = written.as_json()
    assert shown["patients"] == [PSEUDONYM] and shown["audit_event"] == audit_event(written)
