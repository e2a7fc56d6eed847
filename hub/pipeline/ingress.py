"""The ingress worker: validates each accepted message, routes it, and publishes deliveries and events.

A record a Kafka-native producer put on the ingress topic itself was kept in no archive (the hub's own
connectors keep every message before they publish it): the worker keeps it before it handles it, so that
``hub replay`` and the broker watch can publish it again should the broker lose its log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from hub.broker.outcomes import Rejected, reason_of
from hub.broker.port import Outgoing, Record, RecordPublisher
from hub.broker.records import IngressRecord
from hub.broker.topics import Topics
from hub.deliver.ledger import DeliveryLedger, KeptAcknowledgement
from hub.domain.message import MessageFacts, read_facts
from hub.domain.outcome import Issue, Severity, operation_outcome
from hub.domain.tracking import Step, TrackingEvent
from hub.faults import fault_kind, fault_place
from hub.fhirxml.convert import document_of
from hub.fhirxml.validation import validate_any_format
from hub.observe.metrics import count_handled
from hub.observe.rejections import outcome_issues, poison_rule, rejection_rule
from hub.pipeline.plan import EarlierAcknowledgement, plan
from hub.route.live_subscriptions import LiveSubscriptions
from hub.route.register import Register
from hub.store.fitting import column_limits, fit_text
from hub.store.tables import archive as archive_table
from hub.track.archive import ArchivedMessage, MessageArchive
from hub.validate.pool import Validation
from hub.validate.validator import Verdict

log = structlog.get_logger(__name__)

# connectors that keep a message in the archive before they publish it (connectors.intake)
ARCHIVED_AT_INTAKE = frozenset({"http", "mllp", "file"})


class IngressWorker:
    def __init__(
        self,
        *,
        validation: Validation,
        register: Register,
        ledger: DeliveryLedger,
        publisher: RecordPublisher,
        topics: Topics,
        subscriptions: LiveSubscriptions | None = None,
        archive: MessageArchive | None = None,
    ) -> None:
        self._validation = validation
        self._register = register
        self._ledger = ledger
        self._publisher = publisher
        self._topics = topics
        self._subscriptions = subscriptions
        self._archive = archive

    async def handle(self, records: Sequence[Record]) -> None:
        """Validate, plan and publish a batch (run by hub.broker.clients.consume_batches, which commits after it).
        A record that can never be read is refused with Rejected: consume_batches sets it aside through
        `quarantine` at once, and handles the batch's other records without it."""
        out: list[Outgoing] = []
        now = datetime.now(UTC)
        incoming_records = [_incoming(r) for r in records]
        await self._keep_unarchived(incoming_records)
        started = time.perf_counter()
        # FHIR XML is validated as the JSON it converts to, its issues placed in the XML (hub.fhirxml.validation)
        verdicts = await validate_any_format(
            self._validation, [(incoming.raw, incoming.content_type or None) for incoming in incoming_records]
        )
        validated_in = time.perf_counter() - started
        counted: list[tuple[str, str | None]] = []  # (connector, rule of a rejection), counted once published
        checked = list(zip(incoming_records, verdicts, strict=True))
        earlier = await self._remember_acknowledgements(checked)
        for incoming, verdict in checked:
            message_id = verdict.facts.message_id if verdict.facts else None
            given = earlier.get((self._register.name_of(incoming.sender_sor), message_id or ""), {})
            known = tuple(EarlierAcknowledgement(r, code, raw) for r, (code, raw) in sorted(given.items()))
            result = plan(
                incoming,
                verdict,
                self._register,
                now=now,
                earlier_acknowledgements=known,
                subscriptions=self._subscriptions,
            )
            for delivery in result.outbox:
                out.append((self._topics.outbox, delivery.key, delivery.raw, delivery.headers()))
            for event in result.events:
                out.append((self._topics.events, event.key, event.to_bytes(), None))
            if result.dead_letter_reason:
                headers = [*incoming.headers(), ("hub-reason", result.dead_letter_reason.encode())]
                out.append((self._topics.dead_letters, incoming.key, incoming.raw, headers))
            if not verdict.valid:
                log.info(
                    "message rejected",
                    tracking_id=incoming.tracking_id,
                    errors=sum(1 for issue in verdict.issues if issue.is_error),
                )
            counted.append((incoming.connector, _rejection_rule(result.events, verdict)))
        await self._publisher.send_all(out)
        count_handled(counted, validated_in)

    async def _keep_unarchived(self, incoming_records: Sequence[IngressRecord]) -> None:
        """Keep what no connector archived (Kafka-native records); kept ones, such as replays, stay as they are.
        Values are fitted to the archive's columns as the tracking store fits them, so that no record can
        fail here for good; a database that is down fails the batch, which is read again."""
        if self._archive is None:
            return
        native = [r for r in incoming_records if r.connector not in ARCHIVED_AT_INTAKE and r.tracking_id]
        await asyncio.gather(*(self._archive.keep(_archived(r)) for r in native))  # one group commit

    async def quarantine(self, record: Record, failure: BaseException) -> None:
        """A poison record (its handling raised every time, or said DeadLetter or Rejected: hub.broker.isolation):
        rejected like any invalid message, with the issues a Rejected gave or else one `exception` issue, so it
        is tracked and its sender gets a fatal-error acknowledgement; and put on the dead-letter topic with its
        reason, for an operator. Should planning fail on it too, it is still tracked as rejected, from what the
        record's headers say."""
        reason = poison_reason(failure)
        incoming = _readable(record)
        issues = _issues_of(failure) or (Issue(Severity.ERROR, "exception", None, f"{reason}; it is rejected"),)
        now = datetime.now(UTC)
        out: list[Outgoing] = [
            (
                self._topics.dead_letters,
                incoming.key,
                incoming.raw,
                [*incoming.headers(), ("hub-reason", reason.encode())],
            )
        ]
        result = None
        for facts in (_facts_of(incoming.raw), None):  # without the message's facts when they were the trouble
            try:
                result = plan(incoming, Verdict(issues, facts, None), self._register, now=now)
                break
            except Exception as exc:
                log.error("a poison record could not be planned", error=fault_kind(exc), at=fault_place(exc))
        if result is not None:
            out.extend((self._topics.outbox, d.key, d.raw, d.headers()) for d in result.outbox)
            events = result.events
        else:
            events = rejected_events(incoming, issues, sender=self._register.name_of(incoming.sender_sor), now=now)
        out.extend((self._topics.events, event.key, event.to_bytes(), None) for event in events)
        await self._publisher.send_all(out)
        count_handled([(incoming.connector, poison_rule(issues))])
        log.warning("poison message rejected", tracking_id=incoming.tracking_id, reason=reason)

    async def _remember_acknowledgements(
        self, checked: list[tuple[IngressRecord, Verdict]]
    ) -> dict[tuple[str, str], dict[str, tuple[str, bytes]]]:
        """Keep the batch's incoming acknowledgements; for its other messages, find those already given:
        (sender, MessageHeader.id) -> receiver -> (code, raw). Two statements for the whole batch."""
        kept: list[KeptAcknowledgement] = []
        asked: list[tuple[str, str]] = []
        for incoming, verdict in checked:
            facts = verdict.facts
            if not verdict.valid or facts is None or not facts.message_id:
                continue
            if not facts.is_acknowledgement:
                asked.append((self._register.name_of(incoming.sender_sor), facts.message_id))
                continue
            primary = next((d for d in facts.destinations if d.use == "primary"), None)
            if facts.response is not None and primary is not None and primary.organisation is not None:
                kept.append(
                    KeptAcknowledgement(
                        sender=self._register.name_of(primary.organisation.sor),  # the acknowledged message's sender
                        message_id=facts.response.identifier,
                        receiver=self._register.name_of(incoming.sender_sor),
                        code=facts.response.code,
                        raw=incoming.raw,
                    )
                )
        await self._ledger.keep_acknowledgements(kept)
        return await self._ledger.acknowledgements_for(asked)


def _rejection_rule(events: Sequence[TrackingEvent], verdict: Verdict) -> str | None:
    """The rule label of a message its plan rejected (hub.observe.rejections), None for one it did not: the
    issues of its REJECTED step, which include the sender checks planning added to the validator's."""
    rejected = next((event for event in events if event.step is Step.REJECTED), None)
    if rejected is None:
        return None
    return rejection_rule(outcome_issues(rejected.detail.get("outcome")), verdict.bundle)


def poison_reason(failure: BaseException) -> str:
    """Why a poison message was rejected: the reason its handler gave (DeadLetter, Rejected), or the exception's
    type only (its text may quote the message)."""
    return reason_of(failure) or f"the hub could not process this message: {fault_kind(failure)}"


def _issues_of(failure: BaseException) -> tuple[Issue, ...]:
    """The issues a Rejected refused the message with."""
    if isinstance(failure, Rejected):
        return tuple(issue for issue in failure.outcome if isinstance(issue, Issue))
    return ()


def _archived(record: IngressRecord) -> ArchivedMessage:
    limits = column_limits(archive_table)
    return ArchivedMessage(
        tracking_id=fit_text(record.tracking_id, limits["tracking_id"]),
        sender_sor=fit_text(record.sender_sor, limits["sender_sor"]),
        connector=fit_text(record.connector, limits["connector"]),
        received_at=fit_text(record.received_at, limits["received_at"]),
        key=record.key,
        raw=record.raw,
    )


def _incoming(record: Record) -> IngressRecord:
    """The record as the connector published it; one whose headers are not UTF-8 is refused for good."""
    try:
        return IngressRecord.from_kafka(record.key, record.value or b"", record.headers)
    except UnicodeDecodeError as exc:  # the same every time it is read: no point trying again
        raise Rejected(poison_reason(exc)) from exc


def _readable(record: Record) -> IngressRecord:
    """The record as IngressRecord.from_kafka reads it, or, when its headers are not UTF-8, read leniently."""
    try:
        return IngressRecord.from_kafka(record.key, record.value or b"", record.headers)
    except Exception:
        headers = {name: value.decode("utf-8", "replace") for name, value in _pairs(record.headers)}
        return IngressRecord(
            tracking_id=headers.get("hub-tracking-id", ""),
            sender_sor=headers.get("hub-sender-sor", ""),
            received_at=headers.get("hub-received-at", ""),
            connector=headers.get("hub-connector", "unknown"),
            raw=record.value or b"",
            key=record.key or b"",
        )


def _pairs(headers: Any) -> Sequence[tuple[str, bytes]]:
    return [(str(k), bytes(v or b"")) for k, v in headers or ()]


def _facts_of(raw: bytes) -> MessageFacts | None:
    """What the message says of itself (its MessageHeader.id, to answer the sender by), when that can be read."""
    try:
        document = document_of(raw)  # FHIR JSON or FHIR XML
        return read_facts(document) if isinstance(document, dict) else None
    except Exception:
        return None


def rejected_events(
    incoming: IngressRecord, issues: Sequence[Issue], *, sender: str, now: datetime
) -> list[TrackingEvent]:
    """The least a poison message is tracked with, when even planning its rejection failed: received, rejected."""
    at = incoming.received_at or now.isoformat()
    return [
        TrackingEvent(
            Step.RECEIVED, incoming.tracking_id, sender=sender, at=at, detail={"connector": incoming.connector}
        ),
        TrackingEvent(
            Step.REJECTED, incoming.tracking_id, sender=sender, detail={"outcome": operation_outcome(list(issues))}
        ),
    ]
