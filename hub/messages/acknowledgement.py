"""MedCom Acknowledgement messages (acknowledgement IG 2.0.3): the answer to every received message.

An acknowledgement names the message it answers by that message's MessageHeader.id (response.identifier),
says how it went (response.code ok | transient-error | fatal-error) and, when not ok, carries an
OperationOutcome with the reasons. It is signed by the responder, addressed to the original sender as the
one primary destination, and carries no patient.

What the hub itself tells a sender when it refuses a message (or cannot get it to a receiver) is one table,
REFUSALS: per kind of refusal the response code (fatal-error = HL7 AE, transient-error = AR) and, where one of
MedCom's acknowledgement issue-details codes fits, that code for ``OperationOutcome.issue.details.coding`` (else
no coding, only the FHIR issue type, as the profile allows); ``details.text`` always says it for people.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from hub.domain import medcom
from hub.domain.message import MessageFacts, OrganisationRef
from hub.domain.outcome import Issue, Severity, operation_outcome
from hub.messages import builder


class Refusal(StrEnum):
    """Why the hub does not take a message, or cannot get it to a receiver: what it tells the sender is in
    REFUSALS."""

    INVALID = "invalid"  # the validation failed
    INVALID_CODE = "invalid-code"  # the validation failed on a code outside its required ValueSet
    SENDER_UNKNOWN = "sender-unknown"  # not in the endpoint register, or not the organisation the message names
    RECEIVER_UNKNOWN = "receiver-unknown"  # the destination is not in the endpoint register
    RECEIVER_MISSING = "receiver-missing"  # the destination names no SOR code
    MESSAGE_TYPE_NOT_ACCEPTED = "message-type-not-accepted"  # the receiver does not take this event
    # the receiver takes the event, but not in the version MessageHeader.definition names (or names none)
    MESSAGE_VERSION_NOT_ACCEPTED = "message-version-not-accepted"
    DUPLICATE = "duplicate"  # a MessageHeader.id already received (the hub answers it with its earlier answers)
    TOO_LARGE = "too-large"  # larger, or nested deeper, than the hub processes
    RECEIVER_REFUSED = "receiver-refused"  # a dead letter: the receiver refused it for good
    RECEIVER_UNREACHABLE = "receiver-unreachable"  # a dead letter: not delivered within the retry window
    UNDELIVERABLE = "undeliverable"  # a dead letter: the hub's own handling of the delivery failed every time
    ACKNOWLEDGEMENT_TIMEOUT = "acknowledgement-timeout"  # the receiver's transient-error was never followed by ok
    OTHER = "other"  # anything else (the hub's own failure, a poison record)


@dataclass(frozen=True, slots=True)
class Answer:
    """What an error acknowledgement says for one kind of refusal.

    `response_code` is fatal-error (HL7 AE: no point in sending it again unchanged) or transient-error (AR: not
    about the content; the sender decides whether to send again). `issue_code` is the FHIR issue type of an issue
    the hub makes itself (an issue from the validator keeps its own). `detail_code` is the code of MedCom's
    medcom-acknowledgement-error-codes for `OperationOutcome.issue.details.coding`, or None where none of its
    codes fits: the profile allows no coding (0..*), and a coding from another system would be outside its
    required ValueSet. `text` is `details.text` when there is no MedCom code (with one, its display is)."""

    response_code: str
    issue_code: str
    detail_code: str | None
    text: str

    @property
    def display(self) -> str:
        """details.text: the MedCom code's display, else the refusal's own text."""
        return medcom.ACKNOWLEDGEMENT_ERROR_DISPLAYS[self.detail_code] if self.detail_code else self.text


_FATAL, _TRANSIENT = "fatal-error", "transient-error"

REFUSALS: Final[Mapping[Refusal, Answer]] = {
    Refusal.INVALID: Answer(_FATAL, "invalid", None, "The message is not valid"),
    Refusal.INVALID_CODE: Answer(_FATAL, "code-invalid", medcom.VALUESET_VALUE_UNKNOWN, "A code is not allowed"),
    Refusal.SENDER_UNKNOWN: Answer(
        _FATAL, "security", None, "The sender is not the organisation the message names or not in the register"
    ),
    Refusal.RECEIVER_UNKNOWN: Answer(_FATAL, "not-found", medcom.RECEIVER_IDENTIFIER_UNKNOWN, "Receiver unknown"),
    Refusal.RECEIVER_MISSING: Answer(_FATAL, "required", medcom.RECEIVER_IDENTIFIER_MISSING, "No receiver"),
    Refusal.MESSAGE_TYPE_NOT_ACCEPTED: Answer(
        _FATAL, "not-supported", medcom.RECEIVER_UNABLE_TO_RECEIVE_MESSAGE_TYPE, "Message type not accepted"
    ),
    # MedCom registers a receiver for a message type and version (Governance for Network Layer): a version it is
    # not registered for is a message type it cannot receive; no other code of the CodeSystem is about the type
    Refusal.MESSAGE_VERSION_NOT_ACCEPTED: Answer(
        _FATAL, "not-supported", medcom.RECEIVER_UNABLE_TO_RECEIVE_MESSAGE_TYPE, "Message version not accepted"
    ),
    Refusal.DUPLICATE: Answer(_FATAL, "duplicate", None, "The message has been received before"),
    Refusal.TOO_LARGE: Answer(_FATAL, "too-costly", None, "The message is too large or too complex to process"),
    Refusal.RECEIVER_REFUSED: Answer(
        _FATAL, "processing", medcom.RECEIVER_UNABLE_TO_RECEIVE_MESSAGE_TYPE, "The receiver refused the message"
    ),
    Refusal.RECEIVER_UNREACHABLE: Answer(
        _TRANSIENT, "transient", medcom.MAILBOX_OUT_OF_OPERATION, "The receiver could not be reached"
    ),
    Refusal.UNDELIVERABLE: Answer(
        _TRANSIENT, "exception", medcom.MAILBOX_OUT_OF_OPERATION, "The message could not be delivered"
    ),
    Refusal.ACKNOWLEDGEMENT_TIMEOUT: Answer(
        _TRANSIENT, "transient", medcom.MAILBOX_OUT_OF_OPERATION, "The receiver has not taken the message"
    ),
    Refusal.OTHER: Answer(_FATAL, "processing", None, "The message was rejected"),
}

# A rejected message's issues (the validator's, or a poison record's) by their FHIR issue type; any other is
# Refusal.INVALID. (A sender the hub cannot vouch for is decided by the pipeline, hub.pipeline.plan: the
# validator's own `security` issues are about content.)
_REJECTIONS_BY_ISSUE_CODE: Final[Mapping[str, Refusal]] = {
    "code-invalid": Refusal.INVALID_CODE,
    "too-costly": Refusal.TOO_LARGE,
    "duplicate": Refusal.DUPLICATE,
    "exception": Refusal.OTHER,
}


def rejection_refusal(issue: Issue) -> Refusal:
    """The kind of refusal an issue of a rejected message is."""
    return _REJECTIONS_BY_ISSUE_CODE.get(issue.code, Refusal.INVALID)


# What an error acknowledgement says when the caller gives no issue of its own.
_DEFAULT_ISSUES: Final = {
    "transient-error": Issue(
        Severity.ERROR, "transient", None, "The message could not be processed now; send it again later."
    ),
    "fatal-error": Issue(
        Severity.ERROR, "processing", None, "The message was rejected; sending it again will not help."
    ),
}


@dataclass(frozen=True, slots=True)
class CodedIssue:
    """An issue of an error acknowledgement that says, in MedCom's terms, what went wrong: `detail_code` is a code
    of medcom-acknowledgement-error-codes (the ValueSet medcom-acknowledgement-issue-details, which the
    acknowledgement profile binds), or None where none fits; `text` says it for people (for a receiver: its name
    and SOR code)."""

    issue: Issue
    detail_code: str | None
    text: str


def refusal_issue(refusal: Refusal, issue: Issue, *, text: str | None = None) -> CodedIssue:
    """`issue` with the details of `refusal` (REFUSALS): its MedCom code, if any, and `text` or else its
    display."""
    answer = REFUSALS[refusal]
    return CodedIssue(issue, detail_code=answer.detail_code, text=text or answer.display)


def rejection_issues(
    issues: Sequence[Issue], *, refusals: Mapping[int, Refusal] | None = None
) -> list[Issue | CodedIssue]:
    """The issues of a rejected message as its fatal-error acknowledgement carries them: each error with the
    details of its refusal (`refusals` by position, else rejection_refusal), warnings as they are."""
    given = refusals or {}
    return [
        refusal_issue(given.get(i) or rejection_refusal(issue), issue) if issue.is_error else issue
        for i, issue in enumerate(issues)
    ]


def _details(coded: CodedIssue) -> dict[str, Any]:
    """OperationOutcome.issue.details: MedCom's code, with its display, if there is one, and the text."""
    if coded.detail_code is None:
        return {"text": coded.text}
    coding: dict[str, Any] = {"system": medcom.ACKNOWLEDGEMENT_ERROR_CODE_SYSTEM, "code": coded.detail_code}
    display = medcom.ACKNOWLEDGEMENT_ERROR_DISPLAYS.get(coded.detail_code)
    if display:
        coding["display"] = display
    return {"coding": [coding], "text": coded.text}


def acknowledgement_outcome(code: str, issues: Sequence[Issue | CodedIssue], *, resource_id: str) -> dict[str, Any]:
    """The OperationOutcome of an error acknowledgement, with the MedCom acknowledgement profile; a CodedIssue's
    issue also carries its `details`."""
    plain = tuple(i.issue if isinstance(i, CodedIssue) else i for i in issues) or (_DEFAULT_ISSUES[code],)
    outcome = operation_outcome(plain, resource_id=resource_id)
    for entry, given in zip(outcome["issue"], issues, strict=False):
        if isinstance(given, CodedIssue):
            entry["details"] = _details(given)
    return {
        "resourceType": "OperationOutcome",
        "id": resource_id,
        "meta": {"profile": [medcom.ACKNOWLEDGEMENT_OUTCOME_PROFILE]},
        "issue": outcome["issue"],
    }


def _response(identifier: str, code: str, details: dict[str, Any] | None) -> dict[str, Any]:
    """MessageHeader.response: the answered message (its MessageHeader.id), the outcome and its details."""
    part: dict[str, Any] = {"identifier": identifier, "code": code}
    if details is not None:
        part["details"] = builder.reference(details)
    return part


def build_acknowledgement(
    *,
    original: MessageFacts,
    responder: OrganisationRef,
    recipient: OrganisationRef,
    code: str,
    issues: Sequence[Issue | CodedIssue] = (),
    now: datetime,
    message_id: str | None = None,
    new_id: builder.IdFactory = builder.random_id,
) -> dict[str, Any]:
    """An Acknowledgement of `original` from `responder` to `recipient` (the original's sender).

    `code` is ok, transient-error or fatal-error; for an error the `issues` (or a generic one) go into an
    OperationOutcome referenced from MessageHeader.response.details, a CodedIssue with MedCom's detail code.
    `issues` are ignored when ok.
    `message_id` keeps the acknowledgement's MessageHeader.id when the same acknowledgement is sent again
    (a duplicate is answered with the same acknowledgement); ids are otherwise new uuid4s from `new_id`.
    """
    if code not in medcom.RESPONSE_CODES:
        raise ValueError(f"response.code is one of {sorted(medcom.RESPONSE_CODES)}, not {code!r}")
    if not original.message_id:
        raise ValueError("the acknowledged message has no MessageHeader.id to answer")
    sender = builder.organization(responder, resource_id=new_id())
    receiver = builder.organization(recipient, resource_id=new_id())
    content = []
    details = None
    if code != "ok":
        details = acknowledgement_outcome(code, issues, resource_id=new_id())
        content.append(details)
    return builder.message(
        new_id=new_id,
        now=now,
        bundle_profile=medcom.ACKNOWLEDGEMENT_PROFILE,
        header_profile=medcom.ACKNOWLEDGEMENT_HEADER_PROFILE,
        event=medcom.ACKNOWLEDGEMENT_EVENT,
        activity=medcom.ACKNOWLEDGEMENT_ACTIVITY,
        sender=sender,
        receivers=[(receiver, "primary")],
        content=content,
        response=_response(original.message_id, code, details),
        entities=[builder.revision_of(original.message_id)],
        message_id=message_id,
    )
