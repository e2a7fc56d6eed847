"""The audit of reads of patient data: every read of a message about a patient is recorded, in the same request.

Who reads is the ``Viewer`` the HTTP API (and the console) knows: an operator by name and role, or an
organisation's own system. Recorded are only the reads that touched patient data: a search by patient, an answer
that held messages about patients, a mailbox item an organisation fetched, the CPR number an administrator asked
for, an audit query by patient. The viewer role sees no patient (the routes strip them), so its reads touch none
and are not recorded; nor is a read whose answer named no patient.

Recording never loses a read: the entry is written (awaited) before the answer goes out, and when it cannot be
written the read fails with 503 (:class:`ReadNotAudited`): an unaudited read of patient data is not allowed.

The CPR number itself is never stored: patients are pseudonyms (hub.audit.pseudonyms), and so is every CPR number
in the query kept with the entry. The key is ``HUB_AUDIT_PSEUDONYM_KEY``; unset, the hub makes a random key once
and keeps it in the database (``read_audit_key``), so that every hub process pseudonymises alike.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping, Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.api.responses import OutcomeError
from hub.audit import pseudonyms
from hub.audit.entries import ReadEntry, new_entry
from hub.audit.store import ReadAuditQuery, ReadAuditStore
from hub.domain.operators import Viewer
from hub.domain.tracking import utc_now

log = structlog.get_logger(__name__)


class ReadNotAudited(OutcomeError):
    """The read could not be recorded, so it is refused: 503, try again."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "transient",
            None,
            "the read could not be recorded in the audit of reads, and patient data is not read unaudited; try again",
            headers={"Retry-After": "5"},
        )


def touched_patients(viewer: Viewer, patients: Iterable[str | None]) -> list[str]:
    """The patients (CPR numbers) a read of ``viewer``'s touched, each once: none for the viewer role, which is
    shown no patient."""
    if not viewer.sees_patients:
        return []
    seen: dict[str, None] = {}
    for cpr in patients:
        if cpr and cpr.strip():
            seen.setdefault(pseudonyms.normalised_cpr(cpr), None)
    return list(seen)


def multi_query(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Query parameters, a parameter given more than once with its values joined by commas (as FHIR reads them)."""
    joined: dict[str, list[str]] = {}
    for name, value in items:
        joined.setdefault(name, []).append(value)
    return {name: ",".join(values) for name, values in joined.items()}


class ReadAudit:
    """The audit of reads: one per running hub, on ``app.state.read_audit``.

    ``key`` is ``HUB_AUDIT_PSEUDONYM_KEY`` (as text); None takes the key the hub keeps in the database."""

    def __init__(self, engine: AsyncEngine, key: str | None = None) -> None:
        self._store = ReadAuditStore(engine)
        self._key: bytes | None = key.encode() if key else None
        self._key_lock = asyncio.Lock()

    async def _pseudonym_key(self) -> bytes:
        if self._key is None:
            async with self._key_lock:
                if self._key is None:
                    self._key = await self._store.stored_key()
        return self._key

    async def record(
        self,
        viewer: Viewer,
        *,
        action: str,
        what: str,
        patients: Iterable[str | None] = (),
        query: Mapping[str, str] | None = None,
        outcome: str = "ok",
    ) -> None:
        """Record ``viewer``'s read of ``what`` (``action``: "search messages", "read message", ...) that touched
        ``patients`` (CPR numbers; None ignored, each once). Nothing is recorded when the read touched no patient
        (:func:`touched_patients`). ``query``: the query parameters (CPR numbers in it are pseudonymised).

        Raises :class:`ReadNotAudited` (503) when the entry cannot be written: the caller must not answer."""
        touched = touched_patients(viewer, patients)
        if not touched:
            return
        try:
            key = await self._pseudonym_key()
            entry = new_entry(
                viewer,
                entry_id=uuid.uuid4().hex,
                recorded_at=utc_now(),
                action=action,
                what=pseudonyms.pseudonymised_text(key, what),
                patients=pseudonyms.pseudonyms(key, touched),
                query=pseudonyms.pseudonymised_query(key, query),
                outcome=outcome,
            )
            await self._store.add(entry)
        except Exception as exc:
            log.error("read not audited, refused", action=action, error=type(exc).__name__)
            raise ReadNotAudited() from exc

    async def patient_pseudonym(self, cpr: str) -> str:
        """The pseudonym the audit knows the patient by."""
        return pseudonyms.pseudonym(await self._pseudonym_key(), cpr)

    async def find(
        self,
        *,
        person: str | None = None,
        patient: str | None = None,
        organisation: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[int, Sequence[ReadEntry]]:
        """Entries newest first, and how many match; ``patient`` is a CPR number, looked up by its pseudonym."""
        return await self._store.find(
            ReadAuditQuery(
                person=person,
                patient=await self.patient_pseudonym(patient) if patient is not None else None,
                organisation=organisation,
                since=since,
                until=until,
                limit=limit,
                offset=offset,
            )
        )
