"""What to do with one message that came in: a pure function from its verdict to events and deliveries.

The ingress worker validates, calls :func:`plan`, publishes what the plan says, and only then commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from hub.broker.records import IngressRecord, OutboxRecord
from hub.domain import medcom
from hub.domain.message import MessageFacts, read_facts
from hub.domain.outcome import Issue, error, operation_outcome
from hub.domain.tracking import Step, TrackingEvent
from hub.fhirxml.convert import document_of
from hub.messages.acknowledgement import CodedIssue, Refusal, build_acknowledgement, rejection_issues
from hub.messages.failure_notice import (
    RULES,
    FailedDelivery,
    coded_issue,
    receiver_label,
    routing_failure,
    sender_notified,
    to_sender,
)
from hub.route.live_subscriptions import LiveSubscriptions
from hub.route.register import Register
from hub.route.router import route
from hub.route.subscription_matching import merge
from hub.validate.validator import Verdict


@dataclass(slots=True)
class Plan:
    events: list[TrackingEvent] = field(default_factory=list)
    outbox: list[OutboxRecord] = field(default_factory=list)
    # set when nobody can be answered (the sender is not a known organisation): the record goes to the
    # dead-letter topic with this reason, besides being tracked as rejected
    dead_letter_reason: str | None = None


def _sender_mismatch(facts: MessageFacts | None, authenticated_sor: str) -> Issue | None:
    named = facts.sender.sor if facts and facts.sender else None
    if named is None or named == authenticated_sor:
        return None  # a missing sender is the validator's finding
    return error(
        "security",
        "Bundle.entry[0].resource.sender",
        f"MessageHeader.sender has SOR code {named}, but the message was sent by SOR {authenticated_sor}",
    )


# The hub's own acknowledgements get ids derived from what they answer: answering the same message twice
# gives the same acknowledgement, as MedCom's reliable messaging asks.
_HUB_ACKNOWLEDGEMENTS = uuid.UUID("5f1c9a52-27a8-4f5e-9d0e-6b7c1f3e2a10")


@dataclass(frozen=True, slots=True)
class EarlierAcknowledgement:
    """An acknowledgement a receiver already gave for this message (it was sent before)."""

    receiver_id: str
    code: str
    raw: bytes


def plan(
    record: IngressRecord,
    verdict: Verdict,
    register: Register,
    *,
    now: datetime,
    earlier_acknowledgements: tuple[EarlierAcknowledgement, ...] = (),
    subscriptions: LiveSubscriptions | None = None,
) -> Plan:
    """Events and deliveries for one incoming message.

    `earlier_acknowledgements` are those already given for the same MessageHeader.id: the message is a
    resend, and the sender gets them again (receivers that have the message are not given it twice; the
    delivery ledger sees to that).
    """
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
    refusals: dict[int, Refusal] = {}  # the issues that are not the validator's: what they refuse
    mismatch = _sender_mismatch(facts, record.sender_sor)
    if mismatch:
        refusals[len(issues)] = Refusal.SENDER_UNKNOWN
        issues.append(mismatch)
    if register.by_sor(record.sender_sor) is None:
        # only Kafka-native records can get here: every other connector authenticates the sender first
        mismatch = error(
            "security", None, f"the record's sender (SOR {record.sender_sor or 'none'}) is not in the endpoint register"
        )
        refusals[len(issues)] = Refusal.SENDER_UNKNOWN
        issues.append(mismatch)
        result.dead_letter_reason = mismatch.diagnostics
    if not verdict.valid or mismatch or facts is None:
        result.events.append(_step(Step.REJECTED, record, facts, sender_id, issues))
        coded = rejection_issues(issues, refusals=refusals)  # each error with its MedCom code where one fits
        _answer_with_fatal_error(result, record, facts, coded, register, now)
        return result

    decision = route(facts, register)
    copy = facts.activity == medcom.CARBON_COPY_ACTIVITY  # a subscriber has the original: not its copy too
    if subscriptions is not None and verdict.bundle is not None and not facts.is_acknowledgement and not copy:
        # explicit MedCom destinations plus every matching subscription, one delivery per receiver
        decision = merge(decision, subscriptions.match(facts, verdict.bundle, sender_id), register)
    for delivery in decision.deliveries:
        result.outbox.append(
            OutboxRecord(
                tracking_id=record.tracking_id,
                message_id=facts.message_id or "",
                receiver_id=delivery.receiver.id,
                event=facts.event or "",
                raw=record.raw,
                patient_key=facts.partition_key,
                sender_id=sender_id,
                via=delivery.via,
            )
        )
    if decision.deliveries:
        result.events.append(
            _step(
                Step.ROUTED,
                record,
                facts,
                sender_id,
                # a subscriber's copy names its basis: the subscription-policy rule that allows it
                receivers=[
                    {
                        "receiver": d.receiver.id,
                        "use": d.use,
                        "reason": d.reason,
                        **({"basis": d.basis} if d.basis else {}),
                        **({"subscription": d.via} if d.via else {}),
                    }
                    for d in decision.deliveries
                ],
            )
        )
    if decision.failures:
        result.events.append(_step(Step.ROUTING_FAILED, record, facts, sender_id, list(decision.failures)))
        _answer_routing_failures(result, record, facts, sender_id, decision.failures, register, now)
    for earlier in earlier_acknowledgements:
        _resend_acknowledgement(result, record, facts, earlier, register, now)
    if facts.is_acknowledgement and facts.response is not None:
        primary = next((d for d in facts.destinations if d.use == "primary" and d.organisation), None)
        result.events.append(
            TrackingEvent(
                Step.ACKNOWLEDGED,
                record.tracking_id,
                message_id=facts.response.identifier,  # the acknowledged message
                event=None,
                # whose message it acknowledges: the acknowledgement's primary destination
                sender=register.name_of(primary.organisation.sor) if primary and primary.organisation else None,
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


def _answer_routing_failures(
    result: Plan,
    record: IngressRecord,
    facts: MessageFacts,
    sender_id: str,
    failures: tuple[Issue, ...],
    register: Register,
    now: datetime,
) -> None:
    """One fatal-error answer for all destinations that cannot get the message, each issue with MedCom's detail
    code and the receiver named; the original's timeline says, per receiver, that its sender was told."""
    failed = []
    for issue in failures:
        kind, receiver_id, sor = routing_failure(issue, facts, register)
        failed.append(
            FailedDelivery(
                tracking_id=record.tracking_id,
                message_id=facts.message_id or "",
                event=facts.event,
                sender_id=sender_id,
                receiver_id=receiver_id,
                kind=kind,
                reason=issue.diagnostics,
                receiver_sor=sor,
            )
        )
    coded = [
        CodedIssue(issue, detail_code=RULES[f.kind].detail_code, text=_coded_text(f, register))
        for issue, f in zip(failures, failed, strict=True)
    ]
    answer = _answer_with_fatal_error(result, record, facts, coded, register, now)
    if answer is None:
        return
    for f in failed:
        detail_code = RULES[f.kind].detail_code
        result.events.append(
            sender_notified(f, code="fatal-error", detail_code=detail_code, acknowledgement_message_id=answer, now=now)
        )


def _coded_text(failed: FailedDelivery, register: Register) -> str:
    """details.text of a routing failure's issue: MedCom's display and the receiver (the router's diagnostics,
    with the FHIRPath of the destination, stay the issue's diagnostics)."""
    receiver = receiver_label(register, failed.receiver_id, failed.receiver_sor)
    return coded_issue(failed.kind, receiver, failed.reason).text


def _answer_with_fatal_error(
    result: Plan,
    record: IngressRecord,
    facts: MessageFacts | None,
    issues: Sequence[Issue | CodedIssue],
    register: Register,
    now: datetime,
) -> str | None:
    """Send the sender a MedCom fatal-error Acknowledgement from the hub, carrying the issues; its MessageHeader.id,
    or None when nobody is answered."""
    sender = register.by_sor(record.sender_sor)
    if sender is None or (facts is not None and facts.is_acknowledgement):
        return None  # acknowledgements are never acknowledged; an unknown sender cannot be answered
    # without a MessageHeader.id the sender correlates by the tracking id the connector gave it
    answered = facts.message_id if facts and facts.message_id else record.tracking_id
    original = MessageFacts(
        bundle_id=facts.bundle_id if facts else None,
        message_id=answered,
        event=facts.event if facts else None,
        sender=None,
    )
    acknowledgement = build_acknowledgement(
        original=original,
        responder=register.hub.ref,
        recipient=sender.ref,
        code="fatal-error",
        issues=issues,
        now=now,
        message_id=str(uuid.uuid5(_HUB_ACKNOWLEDGEMENTS, f"{answered}/fatal-error")),
    )
    _send_to_sender(
        result,
        sender_id=sender.id,
        raw=orjson.dumps(acknowledgement),
        message_id=acknowledgement["entry"][0]["resource"]["id"],
        partition_key=answered,
        now=now,
        detail={"answers": answered, "answers_tracking_id": record.tracking_id},
        reason="fatal-error answer to the sender",
    )
    message_id: str = acknowledgement["entry"][0]["resource"]["id"]
    return message_id


def _resend_acknowledgement(
    result: Plan,
    record: IngressRecord,
    facts: MessageFacts,
    earlier: EarlierAcknowledgement,
    register: Register,
    now: datetime,
) -> None:
    sender = register.by_sor(record.sender_sor)
    if sender is None:
        return
    earlier_facts = read_facts(document_of(earlier.raw))  # a receiver may have answered in FHIR XML
    _send_to_sender(
        result,
        sender_id=sender.id,
        raw=earlier.raw,
        message_id=earlier_facts.message_id or "",
        partition_key=facts.message_id or "",
        now=now,
        detail={"answers": facts.message_id, "resent_for_tracking_id": record.tracking_id},
        reason=f"the message was sent before; {earlier.receiver_id}'s acknowledgement again",
        resend=True,  # the sender has had this acknowledgement; it asked again by resending
    )
    result.events.append(
        TrackingEvent(
            Step.ACKNOWLEDGED,
            record.tracking_id,
            message_id=facts.message_id,
            sender=sender.id,
            receiver=earlier.receiver_id,
            at=now.isoformat(),
            detail={"code": earlier.code, "acknowledgement_message_id": earlier_facts.message_id, "resent": True},
        )
    )


def _send_to_sender(
    result: Plan,
    *,
    sender_id: str,
    raw: bytes,
    message_id: str,
    partition_key: str,
    now: datetime,
    detail: dict[str, object],
    reason: str,
    resend: bool = False,
) -> None:
    """A message from the hub itself to a sender, tracked like any other (hub.messages.failure_notice.to_sender)."""
    outbox, events = to_sender(
        sender_id=sender_id,
        raw=raw,
        message_id=message_id,
        partition_key=partition_key,
        now=now,
        detail=detail,
        reason=reason,
        resend=resend,
    )
    result.outbox.append(outbox)
    result.events.extend(events)
