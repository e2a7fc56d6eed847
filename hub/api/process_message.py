"""HTTP ingest: ``POST /fhir/$process-message`` for hospital integrations, a thin route over the hub's intake.

The sending organisation authenticates with its bearer token; the route reads the body (counted while it
streams) and hands it to `connectors.intake`, which checks the envelope and that ``MessageHeader.sender`` is
that organisation, keeps the original bytes in the archive and publishes them to the ingress topic unchanged.
The answer (202 with a tracking id) is given only once the broker has them. Full validation follows in the
pipeline; its verdict reaches the sender as a MedCom Acknowledgement and is visible at
``/api/messages/{tracking id}``.

The intake's refusals, in HTTP: INVALID 400, FORBIDDEN 403, UNAVAILABLE 503 with ``Retry-After`` (the hub is
stopping, or the broker did not confirm), FAILED as any unexpected error (500, see ``hub.api.refusals``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from connectors.intake import Refusal, Refused
from hub.api.deps import IntakeDep, OrganisationDep, SettingsDep
from hub.api.responses import OutcomeError, fhir_response
from hub.domain.outcome import Issue, Severity, operation_outcome
from hub.fhirxml.media import ACCEPTED

router = APIRouter(tags=["ingest"])

# FHIR JSON and FHIR XML (application/xml and text/xml are read as FHIR XML, as FHIR's http page has it)
ACCEPTED_MEDIA_TYPES = frozenset(ACCEPTED)
_STATUS = {Refusal.INVALID: 400, Refusal.FORBIDDEN: 403, Refusal.UNAVAILABLE: 503}


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
        "description": "one MedCom message: a FHIR R4 Bundle of type message, in FHIR JSON or FHIR XML",
        "content": {
            "application/fhir+json": {"schema": {"type": "object"}},
            "application/fhir+xml": {"schema": {"type": "string"}},
        },
    }
}


@router.post("/fhir/$process-message", status_code=202, openapi_extra=_MESSAGE_BODY)
async def process_message(
    request: Request, organisation: OrganisationDep, intake: IntakeDep, settings: SettingsDep
) -> Response:
    """Accept one MedCom message Bundle (FHIR JSON or FHIR XML) from the authenticated organisation."""
    media_type = _media_type(request)
    if media_type not in ACCEPTED_MEDIA_TYPES:
        raise OutcomeError(
            415,
            "not-supported",
            None,
            f"Content-Type {media_type or '(none)'} is not accepted; send application/fhir+json or"
            " application/fhir+xml",
        )
    raw = await read_body(request, settings.max_message_bytes)
    taken = await intake.take(
        raw,
        sender_sor=organisation.sor,
        authenticated_as=f"your token belongs to {organisation.id} (SOR {organisation.sor})",
        connector="http",
        max_bytes=settings.max_message_bytes,
        content_type=media_type,
    )
    if isinstance(taken, Refused):
        raise _refusal(taken)
    tracking_id = taken.tracking_id
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


def _refusal(refused: Refused) -> Exception:
    """What to raise for a refusal: an OutcomeError, or for FAILED the error itself, answered as unexpected."""
    if refused.kind is Refusal.FAILED and refused.error is not None:
        return refused.error
    headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after is not None else None
    first = refused.issues[0]
    exc = OutcomeError(_STATUS.get(refused.kind, 500), first.code, first.expression, first.diagnostics, headers=headers)
    exc.issues = list(refused.issues)
    return exc
