"""The audit of reads on a real SQLite file: a read that touched patients is one entry, found by patient (its CPR
number pseudonymised), person and organisation; no CPR number is stored; every hub process pseudonymises alike;
a read that cannot be recorded is refused with 503."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.audit.pseudonyms import pseudonym
from hub.audit.reads import ReadAudit, ReadNotAudited, multi_query, touched_patients
from hub.domain.operators import Role, Viewer
from hub.store.engine import open_database

CPR, OTHER = "0101901234", "0202802345"
ALICE = Viewer(person="alice", role=Role.OPERATOR, address="10.0.0.7")
WATCHER = Viewer(person="bob", role=Role.VIEWER)
HOSPITAL = Viewer("herlev-hjerte", person="herlev-hjerte")


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "hub.sqlite3"


@pytest.fixture
async def engine(database: Path) -> AsyncIterator[AsyncEngine]:
    opened = await open_database(f"sqlite+aiosqlite:///{database}")
    yield opened
    await opened.dispose()


def test_the_viewer_role_touches_no_patient_and_each_patient_counts_once() -> None:
    assert touched_patients(WATCHER, [CPR]) == []
    assert touched_patients(ALICE, [CPR, None, "010190-1234", OTHER, ""]) == [CPR, OTHER]
    assert touched_patients(HOSPITAL, [CPR]) == [CPR]


def test_a_parameter_given_twice_keeps_both_values() -> None:
    assert multi_query([("date", "ge2026-01-01"), ("date", "lt2026-02-01"), ("_count", "5")]) == {
        "date": "ge2026-01-01,lt2026-02-01",
        "_count": "5",
    }


async def test_a_read_is_found_by_patient_person_and_organisation_with_pseudonyms_only(
    engine: AsyncEngine, database: Path
) -> None:
    audit = ReadAudit(engine, "a configured key of sixteen or more")
    await audit.record(
        ALICE, action="search messages", what="messages search", patients=[CPR, CPR], query={"patient": CPR}
    )
    await audit.record(HOSPITAL, action="read message", what="/api/messages/t-1", patients=[OTHER, None])

    total, [found] = await audit.find(patient=CPR)
    assert total == 1
    assert (found.person, found.role, found.organisation, found.address) == ("alice", "operator", None, "10.0.0.7")
    assert found.patients == (await audit.patient_pseudonym(CPR),)
    assert found.query == {"patient": f"pseudonym:{found.patients[0]}"}
    assert [e.person for e in (await audit.find(person="herlev-hjerte"))[1]] == ["herlev-hjerte"]
    [by_organisation] = (await audit.find(organisation="herlev-hjerte"))[1]
    assert (by_organisation.role, by_organisation.patients) == ("organisation", (await audit.patient_pseudonym(OTHER),))
    everything = (await audit.find())[1]
    assert [e.action for e in everything] == ["read message", "search messages"]  # newest first
    assert (await audit.find(patient="0303703456"))[0] == 0

    await engine.dispose()
    stored = b"".join(p.read_bytes() for p in database.parent.glob(f"{database.name}*"))  # with a -wal file
    assert CPR.encode() not in stored and OTHER.encode() not in stored  # no CPR number in the database file at all


async def test_a_read_that_touched_no_patient_is_not_recorded(engine: AsyncEngine) -> None:
    audit = ReadAudit(engine)
    await audit.record(WATCHER, action="read message", what="/api/messages/t-1", patients=[CPR])
    await audit.record(ALICE, action="search messages", what="messages search", patients=[None])
    assert (await audit.find())[0] == 0


async def test_hub_processes_without_a_configured_key_share_the_one_the_first_made(engine: AsyncEngine) -> None:
    first, second = ReadAudit(engine), ReadAudit(engine)
    assert await first.patient_pseudonym(CPR) == await second.patient_pseudonym(CPR)
    configured = ReadAudit(engine, "a configured key of sixteen or more")
    assert await configured.patient_pseudonym(CPR) == pseudonym(b"a configured key of sixteen or more", CPR)
    assert await configured.patient_pseudonym(CPR) != await first.patient_pseudonym(CPR)


async def test_a_read_that_cannot_be_recorded_is_refused_with_503(engine: AsyncEngine, database: Path) -> None:
    audit = ReadAudit(engine, "a configured key of sixteen or more")
    with sqlite3.connect(database) as connection:
        connection.execute("DROP TABLE read_audit")
    with pytest.raises(ReadNotAudited) as refused:
        await audit.record(ALICE, action="read message", what="/api/messages/t-1", patients=[CPR])
    assert refused.value.status_code == 503
