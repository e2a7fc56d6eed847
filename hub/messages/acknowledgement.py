"""MedCom Acknowledgement messages (acknowledgement IG 2.0.3): the answer to every received message.

An acknowledgement names the message it answers by that message's MessageHeader.id (response.identifier),
says how it went (response.code ok | transient-error | fatal-error) and, when not ok, carries an
OperationOutcome with the reasons. It is signed by the responder, addressed to the original sender as the
one primary destination, and carries no patient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from hub.domain import medcom
from hub.domain.message import MessageFacts, OrganisationRef
from hub.domain.outcome import Issue, Severity, operation_outcome
from hub.messages import builder

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
    acknowledgement profile binds), `text` says it for people (for a receiver: its name and SOR code)."""

    issue: Issue
    detail_code: str
    text: str


def _details(coded: CodedIssue) -> dict[str, Any]:
    """OperationOutcome.issue.details: MedCom's code, with its display, and the text."""
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
