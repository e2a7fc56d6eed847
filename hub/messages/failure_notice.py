"""Failure notices: the MedCom Acknowledgement the hub sends a sender when one of its receivers did not, or will
not, take its message. Pure: from the failed delivery's facts, the register and the time to what to publish.

MedCom's acknowledgement rules say what each failure is to the sender (acknowledgement IG 2.0.3, response codes):

- ``fatal-error``, "no point in re-sending without change": the receiver is not in the register, names no SOR
  code, does not take the event or not in the message's version, or refused the message for good (an HTTP answer
  that is not retried);
- ``transient-error``, "wait and try again ... the original sender must decide on whether to send again": the
  receiver was out of operation for the whole retry window, the hub's own handling failed (a dead letter an
  operator can redrive), or the receiver answered transient-error and never followed it with ok.

Each notice's OperationOutcome issue carries ``details.coding`` from MedCom's medcom-acknowledgement-error-codes
and names the receiver (register name and SOR code) in ``details.text`` and the diagnostics.

One notice per receiver and message: its MessageHeader.id is a UUID v5 of the original tracking id, the
receiver and the kind of failure, and so are its tracking id and its events' ids, so a redo (a crash, a second
hub process) publishes the same notice, which the delivery ledger delivers once and the projection records once.
Acknowledgements and the hub's own messages never get one (acknowledgements are never acknowledged, and a notice
about a notice would loop), nor does a sender the register does not know.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

import orjson

from hub.broker.records import OutboxRecord
from hub.domain import medcom
from hub.domain.ids import new_event_id, new_tracking_id
from hub.domain.message import MessageFacts
from hub.domain.outcome import Issue, Severity
from hub.domain.tracking import Step, TrackingEvent
from hub.messages.acknowledgement import REFUSALS, CodedIssue, Refusal, build_acknowledgement
from hub.route.accepts import version_refusal
from hub.route.register import Register

HUB_SENDER: Final = "hub"  # sender_id of the hub's own messages in the outbox and the tracking store
NO_RECEIVER: Final = "unknown"  # the receiver of a destination that names no organisation (Register.name_of)

# The namespace of the notices' ids (MessageHeader.id, tracking id, event ids).
_NOTICES = uuid.UUID("0b6f4d3e-8a51-4c2f-9e77-3d5a1c9b2e64")


class FailureKind(StrEnum):
    """Why a receiver did not, or will not, get a message."""

    RECEIVER_UNKNOWN = "receiver-unknown"  # not in the endpoint register (routing, or gone at delivery)
    RECEIVER_MISSING = "receiver-missing"  # the destination names no SOR code
    EVENT_NOT_ACCEPTED = "event-not-accepted"  # the receiver does not take this event
    VERSION_NOT_ACCEPTED = "version-not-accepted"  # it takes the event, not in this MessageDefinition version
    REFUSED = "refused"  # the receiver refused it for good (an answer that is not retried)
    OUT_OF_OPERATION = "out-of-operation"  # not delivered within the retry window
    UNDELIVERABLE = "undeliverable"  # the hub's own handling of the delivery failed every time
    TRANSIENT_UNRESOLVED = "transient-error-unresolved"  # the receiver's transient-error was never followed by ok


# Which refusal each failure is: hub.messages.acknowledgement.REFUSALS says what its sender is told.
REFUSAL_OF: Final = {
    FailureKind.RECEIVER_UNKNOWN: Refusal.RECEIVER_UNKNOWN,
    FailureKind.RECEIVER_MISSING: Refusal.RECEIVER_MISSING,
    FailureKind.EVENT_NOT_ACCEPTED: Refusal.MESSAGE_TYPE_NOT_ACCEPTED,
    FailureKind.VERSION_NOT_ACCEPTED: Refusal.MESSAGE_VERSION_NOT_ACCEPTED,
    FailureKind.REFUSED: Refusal.RECEIVER_REFUSED,
    FailureKind.OUT_OF_OPERATION: Refusal.RECEIVER_UNREACHABLE,
    FailureKind.UNDELIVERABLE: Refusal.UNDELIVERABLE,
    FailureKind.TRANSIENT_UNRESOLVED: Refusal.ACKNOWLEDGEMENT_TIMEOUT,
}

_ADVICE: Final = {
    FailureKind.RECEIVER_UNKNOWN: "sending it again will not help",
    FailureKind.RECEIVER_MISSING: "sending it again will not help",
    FailureKind.EVENT_NOT_ACCEPTED: "sending it again will not help",
    FailureKind.VERSION_NOT_ACCEPTED: "sending it again in the same version will not help",
    FailureKind.REFUSED: "sending it again unchanged will not help",
    FailureKind.OUT_OF_OPERATION: "send it again later, or reach the receiver another way",
    FailureKind.UNDELIVERABLE: (
        "the hub's operators can deliver it again; send it again later, or reach the receiver another way"
    ),
    FailureKind.TRANSIENT_UNRESOLVED: "send it again later, or reach the receiver another way",
}


@dataclass(frozen=True, slots=True)
class Rule:
    """What the sender is told for one kind of failure."""

    response_code: str  # MessageHeader.response.code
    issue_code: str  # OperationOutcome.issue.code (FHIR issue type)
    detail_code: str | None  # medcom-acknowledgement-error-codes
    advice: str
    display: str  # details.text before the receiver's name


def _rule(kind: FailureKind) -> Rule:
    answer = REFUSALS[REFUSAL_OF[kind]]
    return Rule(answer.response_code, answer.issue_code, answer.detail_code, _ADVICE[kind], answer.display)


RULES: Final = {kind: _rule(kind) for kind in FailureKind}


@dataclass(frozen=True, slots=True)
class FailedDelivery:
    """The facts of one message that one receiver did not, or will not, get."""

    tracking_id: str  # the original message's
    message_id: str  # its MessageHeader.id: what the notice answers ("" when it has none)
    event: str | None
    sender_id: str  # register id of the original sender
    receiver_id: str  # register id of the receiver (``sor:<code>`` for one the register does not know)
    kind: FailureKind
    reason: str  # what happened, in the hub's words (never the message's content)
    receiver_sor: str | None = None  # the SOR code the message named, for a receiver the register does not know


@dataclass(frozen=True, slots=True)
class FailureNotice:
    """What to publish: the notice's outbox record (to the sender) and its tracking events (its own RECEIVED and
    ROUTED, and SENDER_NOTIFIED on the original)."""

    outbox: OutboxRecord
    events: tuple[TrackingEvent, ...]
    message_id: str  # the notice's MessageHeader.id
    code: str  # its response.code
    detail_code: str | None


def notice_message_id(tracking_id: str, receiver_id: str, kind: FailureKind) -> str:
    """The MessageHeader.id of the notice for one receiver, message and kind of failure: the same every time."""
    return str(uuid.uuid5(_NOTICES, f"{tracking_id}/{receiver_id}/{kind}"))


def _event_id(*parts: str) -> str:
    return uuid.uuid5(_NOTICES, "/".join(parts)).hex


def receiver_label(register: Register, receiver_id: str, sor: str | None = None) -> str:
    """How a notice names a receiver: its register name and SOR code, or what is known of it."""
    organisation = register.by_id(receiver_id)
    if organisation is not None:
        return f"{organisation.name} (SOR {organisation.sor})"
    if sor:
        return f"the receiver with SOR code {sor}, which is not in the endpoint register"
    if receiver_id in ("", NO_RECEIVER) or receiver_id.startswith("sor:"):
        return "a destination that names no SOR code"
    return f"the receiver {receiver_id}, which is no longer in the endpoint register"


def coded_issue(kind: FailureKind, receiver: str, reason: str) -> CodedIssue:
    """The notice's issue: severity error, the kind's issue type and MedCom detail code, the receiver named."""
    rule = RULES[kind]
    return CodedIssue(
        Issue(Severity.ERROR, rule.issue_code, None, f"{receiver}: {reason}; {rule.advice}"),
        detail_code=rule.detail_code,
        text=f"{rule.display}: {receiver}",
    )


def wants_notice(failed: FailedDelivery, register: Register) -> bool:
    """Only a known sender's own message gets a notice: never an acknowledgement, never a hub message."""
    return (
        failed.event != medcom.ACKNOWLEDGEMENT_EVENT
        and failed.sender_id != HUB_SENDER
        and register.by_id(failed.sender_id) is not None
    )


def failure_notice(failed: FailedDelivery, register: Register, *, now: datetime) -> FailureNotice | None:
    """The notice that tells `failed`'s sender its receiver did not, or will not, get the message; None when none
    is due (an acknowledgement, a hub message, a sender the register does not know)."""
    sender = register.by_id(failed.sender_id)
    if sender is None or not wants_notice(failed, register):
        return None
    rule = RULES[failed.kind]
    answered = failed.message_id or failed.tracking_id
    message_id = notice_message_id(failed.tracking_id, failed.receiver_id, failed.kind)
    receiver = receiver_label(register, failed.receiver_id, failed.receiver_sor)
    acknowledgement = build_acknowledgement(
        original=MessageFacts(bundle_id=None, message_id=answered, event=failed.event, sender=None),
        responder=register.hub.ref,
        recipient=sender.ref,
        code=rule.response_code,
        issues=[coded_issue(failed.kind, receiver, failed.reason)],
        now=now,
        message_id=message_id,
    )
    outbox, events = to_sender(
        sender_id=sender.id,
        raw=orjson.dumps(acknowledgement),
        message_id=message_id,
        partition_key=answered,
        now=now,
        detail={"answers": answered, "answers_tracking_id": failed.tracking_id, "about_receiver": failed.receiver_id},
        reason=f"{rule.response_code} notice: {failed.receiver_id} did not get the message",
        tracking_id=str(uuid.uuid5(_NOTICES, f"{message_id}/tracking")),
    )
    notified = sender_notified(
        failed, code=rule.response_code, detail_code=rule.detail_code, acknowledgement_message_id=message_id, now=now
    )
    return FailureNotice(outbox, (*events, notified), message_id, rule.response_code, rule.detail_code)


def sender_notified(
    failed: FailedDelivery, *, code: str, detail_code: str | None, acknowledgement_message_id: str, now: datetime
) -> TrackingEvent:
    """The SENDER_NOTIFIED step on the original message: which notice told its sender about which receiver."""
    return TrackingEvent(
        Step.SENDER_NOTIFIED,
        failed.tracking_id,
        message_id=failed.message_id or None,
        event=failed.event,
        sender=failed.sender_id,
        receiver=failed.receiver_id,
        at=now.isoformat(),
        detail={
            "code": code,
            "detail_code": detail_code,
            "acknowledgement_message_id": acknowledgement_message_id,
            "receiver": failed.receiver_id,
        },
        id=_event_id(failed.tracking_id, failed.receiver_id, str(failed.kind), str(Step.SENDER_NOTIFIED)),
    )


def to_sender(
    *,
    sender_id: str,
    raw: bytes,
    message_id: str,
    partition_key: str,
    now: datetime,
    detail: dict[str, object],
    reason: str,
    resend: bool = False,
    tracking_id: str | None = None,
) -> tuple[OutboxRecord, list[TrackingEvent]]:
    """A message from the hub itself to a sender, tracked like any other: the outbox record (sender ``hub``) and
    its RECEIVED and ROUTED steps under its own tracking id. Given a `tracking_id`, the steps' ids derive from it
    (the same message made again records nothing new); without one, a new tracking id and new event ids."""
    given = tracking_id is not None
    tracking_id = tracking_id or new_tracking_id()
    outbox = OutboxRecord(
        tracking_id=tracking_id,
        message_id=message_id,
        receiver_id=sender_id,
        event=medcom.ACKNOWLEDGEMENT_EVENT,
        raw=raw,
        patient_key=partition_key,
        sender_id=HUB_SENDER,
        resend=resend,
    )
    events = [
        TrackingEvent(
            step,
            tracking_id,
            message_id=message_id,
            event=medcom.ACKNOWLEDGEMENT_EVENT,
            sender=HUB_SENDER,
            at=now.isoformat(),
            detail=step_detail,
            id=_event_id(tracking_id, str(step)) if given else new_event_id(),
        )
        for step, step_detail in (
            (Step.RECEIVED, {"connector": "hub", **detail}),
            (Step.ROUTED, {"receivers": [{"receiver": sender_id, "use": "primary", "reason": reason}]}),
        )
    ]
    return outbox, events


def routing_failure(issue: Issue, facts: MessageFacts, register: Register) -> tuple[FailureKind, str, str | None]:
    """A routing failure (hub.route.router) as a failure kind, the receiver's id (``sor:<code>`` when the register
    does not know it) and the SOR code the message named. The router places each failure at
    ``<destination>.receiver``, which names the destination."""
    destinations = {f"{d.expression}.receiver": d for d in facts.destinations}
    destination = destinations.get(issue.expression or "")
    sor = destination.organisation.sor if destination and destination.organisation else None
    organisation = register.by_sor(sor)
    if organisation is not None:
        # the router refuses a receiver it knows for the event, or for the event's version (hub.route.accepts)
        event = facts.event or ""
        if event in organisation.accepts and version_refusal(event, organisation.versions_of(event), facts.definition):
            return FailureKind.VERSION_NOT_ACCEPTED, organisation.id, sor
        return FailureKind.EVENT_NOT_ACCEPTED, organisation.id, sor
    if destination is not None and sor is None:
        return FailureKind.RECEIVER_MISSING, NO_RECEIVER, None
    if destination is None and issue.code == "not-supported":
        return FailureKind.EVENT_NOT_ACCEPTED, NO_RECEIVER, None
    return FailureKind.RECEIVER_UNKNOWN, register.name_of(sor), sor
