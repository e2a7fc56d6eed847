"""HTTP ingest: ``POST /fhir/$process-message`` for hospital integrations.

The sending organisation authenticates with its bearer token; the message's ``MessageHeader.sender`` must be
that organisation. The original bytes go to the ingress topic unchanged, and the answer (202 with a tracking
id) is given only once the broker has them. Full validation follows in the pipeline; its verdict reaches the
sender as a MedCom Acknowledgement and is visible at ``/api/messages/{tracking id}``.
"""

from __future__ import annotations

import asyncio

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Request, Response

from hub.api.deps import OrganisationDep, RuntimeDep
from hub.api.responses import OutcomeError, fhir_response
from hub.broker.records import IngressRecord
from hub.domain.ids import new_tracking_id
from hub.domain.message import read_facts
from hub.domain.outcome import Issue, Severity, operation_outcome
from hub.domain.tracking import utc_now
from hub.track.archive import ArchivedMessage
from hub.validate.envelope import read_envelope

router = APIRouter(tags=["ingest"])

PUBLISH_TIMEOUT_SECONDS = 10.0
ACCEPTED_MEDIA_TYPES = frozenset({"application/fhir+json", "application/json"})


def _media_type(request: Request) -> str:
    return request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The body, counted as it streams in (chunked or not): 413 as soon as it passes ``limit`` bytes, so that
    no more than the limit is ever held for one request. A declared Content-Length over the limit is refused
    before anything is read. What the sender still sends after a refusal the server reads and drops."""
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise OutcomeError(413, "too-costly", None, f"the message is {declared} bytes; the limit is {limit}")
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise OutcomeError(413, "too-costly", None, f"the message is larger than the limit of {limit} bytes")
        body += chunk
    return bytes(body)


# the body is read as a stream (read_body), so the OpenAPI description says what it is by hand
_MESSAGE_BODY = {
    "requestBody": {
        "required": True,
        "description": "one MedCom message: a FHIR R4 Bundle of type message, in FHIR JSON",
        "content": {"application/fhir+json": {"schema": {"type": "object"}}},
    }
}


@router.post("/fhir/$process-message", status_code=202, openapi_extra=_MESSAGE_BODY)
async def process_message(request: Request, organisation: OrganisationDep, runtime: RuntimeDep) -> Response:
    """Accept one MedCom message Bundle (FHIR JSON) from the authenticated organisation."""
    media_type = _media_type(request)
    if media_type not in ACCEPTED_MEDIA_TYPES:
        raise OutcomeError(
            415,
            "not-supported",
            None,
            f"Content-Type {media_type or '(none)'} is not accepted; send application/fhir+json",
        )
    limit = runtime.settings.max_message_bytes
    raw = await read_body(request, limit)

    envelope = read_envelope(raw, max_bytes=limit)
    if not envelope.ok or envelope.document is None:
        raise _bad_request(list(envelope.issues))
    facts = read_facts(envelope.document)  # the very document the envelope checked (no key given twice)
    if facts.sender is not None and facts.sender.several_sor:
        raise OutcomeError(
            400,
            "structure",
            "Bundle.entry[0].resource.sender",
            "the sender Organization has more than one SOR identifier; MedCom allows one, and with more it cannot"
            " be told which organisation sends the message",
        )
    named = facts.sender.sor if facts.sender else None
    if named is None:
        raise OutcomeError(
            400,
            "required",
            "Bundle.entry[0].resource.sender",
            "the first entry must be a MessageHeader whose sender resolves to an Organization with a SOR identifier",
        )
    if named != organisation.sor:
        raise OutcomeError(
            403,
            "security",
            "Bundle.entry[0].resource.sender",
            f"MessageHeader.sender has SOR code {named}; "
            f"your token belongs to {organisation.id} (SOR {organisation.sor})",
        )

    if not runtime.accepting:
        raise OutcomeError(
            503, "transient", None, "the hub is shutting down; send the message again", headers={"Retry-After": "5"}
        )
    tracking_id = new_tracking_id()
    key = facts.partition_key.encode()
    record = IngressRecord(
        tracking_id=tracking_id, sender_sor=organisation.sor, received_at=utc_now(), connector="http", raw=raw
    )
    # kept before it is published: if the broker loses it, the hub publishes it again from here
    await runtime.archive.keep(
        ArchivedMessage(tracking_id, organisation.sor, record.connector, record.received_at, key, raw)
    )
    try:
        await asyncio.wait_for(
            runtime.publisher.send_and_wait(runtime.topics.ingress, key=key, value=raw, headers=record.headers()),
            timeout=PUBLISH_TIMEOUT_SECONDS,
        )
    except (KafkaError, TimeoutError) as exc:
        # not accepted: the sender must send it again (the archived copy makes a resend harmless)
        raise OutcomeError(
            503,
            "transient",
            None,
            f"the message broker did not confirm the message ({type(exc).__name__}); send it again",
            headers={"Retry-After": "2"},
        ) from exc
    accepted = Issue(
        Severity.INFORMATION,
        "informational",
        None,
        f"accepted for delivery; tracking id {tracking_id}; follow it at /api/messages/{tracking_id}",
    )
    return fhir_response(
        operation_outcome([accepted], resource_id=tracking_id),
        status_code=202,
        headers={"Location": f"/api/messages/{tracking_id}", "X-Hub-Tracking-Id": tracking_id},
    )


def _bad_request(issues: list[Issue]) -> OutcomeError:
    exc = OutcomeError(400, "invalid", None, "the body is not a FHIR JSON Bundle")
    exc.issues = issues or exc.issues
    return exc
