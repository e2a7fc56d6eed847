"""What to do with one message that came in: a pure function from its verdict to events and deliveries.

The ingress worker validates, calls :func:`plan`, publishes what the plan says, and only then commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from hub.broker.records import IngressRecord, OutboxRecord
from hub.domain.message import MessageFacts, OrganisationRef
from hub.domain.outcome import Issue, error, operation_outcome
from hub.messages.acknowledgement import build_acknowledgement
from hub.route.register import Register
from hub.route.router import route
from hub.track.events import Step, TrackingEvent
from hub.validate.validator import Verdict


@dataclass(slots=True)
class Plan:
    events: list[TrackingEvent] = field(default_factory=list)
    outbox: list[OutboxRecord] = field(default_factory=list)


def _sender_mismatch(facts: MessageFacts | None, authenticated_sor: str) -> Issue | None:
    named = facts.sender.sor if facts and facts.sender else None
    if named is None or named == authenticated_sor:
        return None  # a missing sender is the validator's finding
    return error(
        "security",
        "Bundle.entry[0].resource.sender",
        f"MessageHeader.sender has SOR code {named}, but the message was sent by SOR {authenticated_sor}",
    )


def plan(record: IngressRecord, verdict: Verdict, register: Register, *, now: datetime) -> Plan:
    facts = verdict.facts
    sender_id = register.name_of(record.sender_sor)
    result = Plan()
    result.events.append(
        TrackingEvent(
            Step.RECEIVED,
            record.tracking_id,
            message_id=facts.message_id if facts else None,
            event=facts.event if facts else None,
            sender=sender_id,
            patient=facts.patient_cpr if facts else None,
            at=record.received_at or now.isoformat(),
            detail={"connector": record.connector, "bundle_id": facts.bundle_id if facts else None},
        )
    )
    issues = list(verdict.issues)
    mismatch = _sender_mismatch(facts, record.sender_sor)
    if mismatch:
        issues.append(mismatch)
    if not verdict.valid or mismatch or facts is None:
        result.events.append(_step(Step.REJECTED, record, facts, sender_id, issues))
        _answer_with_fatal_error(result, record, facts, issues, register, now)
        return result

    decision = route(facts, register)
    for delivery in decision.deliveries:
        result.outbox.append(
            OutboxRecord(
                tracking_id=record.tracking_id,
                message_id=facts.message_id or "",
                receiver_id=delivery.receiver.id,
                event=facts.event or "",
                raw=record.raw,
                patient_key=facts.partition_key,
            )
        )
    if decision.deliveries:
        result.events.append(
            _step(
                Step.ROUTED,
                record,
                facts,
                sender_id,
                receivers=[{"receiver": d.receiver.id, "use": d.use, "reason": d.reason} for d in decision.deliveries],
            )
        )
    if decision.failures:
        result.events.append(_step(Step.ROUTING_FAILED, record, facts, sender_id, list(decision.failures)))
        _answer_with_fatal_error(result, record, facts, list(decision.failures), register, now)
    if facts.is_acknowledgement and facts.response is not None:
        result.events.append(
            TrackingEvent(
                Step.ACKNOWLEDGED,
                record.tracking_id,
                message_id=facts.response.identifier,  # the acknowledged message
                event=None,
                sender=None,
                receiver=sender_id,  # who acknowledged: the acknowledgement's sender
                at=now.isoformat(),
                detail={"code": facts.response.code, "acknowledgement_message_id": facts.message_id},
            )
        )
    return result


def _step(
    step: Step,
    record: IngressRecord,
    facts: MessageFacts | None,
    sender_id: str,
    issues: list[Issue] | None = None,
    **detail: object,
) -> TrackingEvent:
    if issues:
        detail["outcome"] = operation_outcome(issues)
    return TrackingEvent(
        step,
        record.tracking_id,
        message_id=facts.message_id if facts else None,
        event=facts.event if facts else None,
        sender=sender_id,
        detail=dict(detail),
    )


def _answer_with_fatal_error(
    result: Plan,
    record: IngressRecord,
    facts: MessageFacts | None,
    issues: list[Issue],
    register: Register,
    now: datetime,
) -> None:
    """Send the sender a MedCom fatal-error Acknowledgement from the hub, carrying the issues."""
    sender = register.by_sor(record.sender_sor)
    if sender is None or (facts is not None and facts.is_acknowledgement):
        return  # acknowledgements are never acknowledged; an unknown sender cannot be answered
    original = facts or MessageFacts(bundle_id=None, message_id=None, event=None, sender=None)
    if original.message_id is None:
        # without a MessageHeader.id the sender correlates by the tracking id the connector gave it
        original = MessageFacts(
            bundle_id=original.bundle_id, message_id=record.tracking_id, event=original.event, sender=None
        )
    acknowledgement = build_acknowledgement(
        original=original,
        responder=register.hub.ref,
        recipient=OrganisationRef(sor=sender.sor, gln=sender.gln, name=sender.name),
        code="fatal-error",
        issues=issues,
        now=now,
    )
    header_id = acknowledgement["entry"][0]["resource"]["id"]
    tracking_id = str(uuid.uuid4())
    result.outbox.append(
        OutboxRecord(
            tracking_id=tracking_id,
            message_id=header_id,
            receiver_id=sender.id,
            event="acknowledgement-message",
            raw=orjson.dumps(acknowledgement),
            patient_key=original.message_id or "",
        )
    )
    result.events.append(
        TrackingEvent(
            Step.RECEIVED,
            tracking_id,
            message_id=header_id,
            event="acknowledgement-message",
            sender="hub",
            at=now.isoformat(),
            detail={"connector": "hub", "answers": original.message_id, "answers_tracking_id": record.tracking_id},
        )
    )
    result.events.append(
        TrackingEvent(
            Step.ROUTED,
            tracking_id,
            message_id=header_id,
            event="acknowledgement-message",
            sender="hub",
            at=now.isoformat(),
            detail={
                "receivers": [{"receiver": sender.id, "use": "primary", "reason": "fatal-error answer to the sender"}]
            },
        )
    )
