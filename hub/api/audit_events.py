"""The tracking as MedCom EHMI Delivery Status: ``GET /fhir/AuditEvent`` (an EDS search), ``/fhir/AuditEvent/{id}``.

A national EDS client, an organisation or the operator reads what the hub knows of a message's journey as the
AuditEvents EDS defines (hub.messages.delivery_status makes them from the tracking store's views). Who asks decides
what is there: the operator sees every message, an organisation (by its own bearer token) only the messages it
sent or received, and of a message it received only its own delivery. An AuditEvent another organisation may not
see is not found, exactly as one that does not exist.

A search asks the tracking store for the messages that can hold matching AuditEvents (by sender, receiver, message
type, MessageHeader.id, CPR number, and received before the end of the date range), makes their AuditEvents and keeps
those that match. It looks through the newest ``SCAN_LIMIT`` such messages at most; when more match, the Bundle says
so in an OperationOutcome entry (search mode ``outcome``), and ``date`` or ``message-id`` narrow it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from fastapi import APIRouter, Request, Response

from hub.api.deps import ReadAuditDep, RegisterDep, TrackingDep, ViewerDep
from hub.api.params import Text
from hub.api.responses import FHIR_JSON, OutcomeError, fhir_response, outcome_response
from hub.audit.reads import multi_query
from hub.domain.identifiers import mask_cpr_everywhere
from hub.domain.outcome import Issue, Severity, operation_outcome
from hub.messages.delivery_status import (
    HUB_ID,
    LARGEST_COUNT,
    AuditEventSearch,
    audit_events,
    matches,
    newest_first,
    parse_search,
    tracking_id_of,
)
from hub.track.store import MessageQuery, TrackingStore

router = APIRouter(prefix="/fhir", tags=["fhir"])

SCAN_LIMIT: Final = 500  # the most messages one search looks through
_MOST_NARROWINGS: Final = 20  # store queries one search makes, at most, before it asks for every message instead


def _parameter(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_DOCUMENTED = [
    _parameter("senderOrg", "the sender's SOR code, GLN or name (FHIR string search; :exact, :contains)"),
    _parameter("sender-sor", "the sender's SOR code"),
    _parameter("sender-gln", "the sender's GLN"),
    _parameter("receiverOrg", "the receiver's SOR code, GLN or name"),
    _parameter("receiver-sor", "the receiver's SOR code"),
    _parameter("receiver-gln", "the receiver's GLN"),
    _parameter("participant-sor", "the SOR code of the sender or the receiver"),
    _parameter("message-id", "MessageHeader.id, exactly"),
    _parameter("ehmiMessageType", "the MedCom event code, e.g. hospital-notification-message"),
    _parameter("cpr", "the patient's CPR number (never shown in the answer)"),
    _parameter("date", "AuditEvent.recorded, with a prefix eq, ge, gt, le or lt; may be repeated"),
    _parameter("subtype", "msg-received, msg-sent or msg-finalized"),
    _parameter("outcome", "0 (success) or 8 (serious failure)"),
    _parameter("_count", "AuditEvents per page", {"type": "integer", "minimum": 0, "maximum": LARGEST_COUNT}),
    _parameter("_offset", "skip this many", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}),
]
_FHIR_ANSWER: Final[dict[int | str, dict[str, Any]]] = {200: {"content": {FHIR_JSON: {}}, "description": "FHIR JSON"}}


@router.get(
    "/AuditEvent",
    response_class=Response,
    responses=_FHIR_ANSWER,
    openapi_extra={"parameters": _DOCUMENTED},
)
async def search_audit_events(
    request: Request, tracking: TrackingDep, register: RegisterDep, viewer: ViewerDep, read_audit: ReadAuditDep
) -> Response:
    """EDS delivery statuses (AuditEvents) that match the search, newest first, as a FHIR searchset Bundle.
    A search that touched patients (by CPR number, or answering a patient's messages) is in the audit of reads."""
    search = parse_search(request.query_params, register=register)
    if isinstance(search, list):
        return outcome_response(400, search)
    if search.cpr is not None and not viewer.sees_patients:
        raise OutcomeError(
            403,
            "forbidden",
            "http.cpr",
            f"{viewer.person} is a {viewer.role}; searching by CPR number needs the operator role",
        )
    tracking_ids, truncated = await _candidate_messages(tracking, search, viewer.organisation_id)
    found: list[dict[str, Any]] = []
    for tracking_id in tracking_ids:
        view = await tracking.get_message(tracking_id, party=viewer.organisation_id)
        if view is not None:
            found.extend(e for e in audit_events(view, register=register) if matches(e, search, register=register))
    ordered = newest_first(found)
    page = ordered[search.offset : search.offset + search.count]
    bundle = _searchset(request, search, page, total=len(ordered), truncated=truncated)
    if viewer.sees_patients:
        shown = {t for e in page if (t := tracking_id_of(str(e["id"])))}
        of_page = await tracking.patients_of(shown) if search.cpr is None else {}
        await read_audit.record(
            viewer,
            action="search AuditEvent",
            what="/fhir/AuditEvent search",
            patients=[search.cpr] if search.cpr is not None else of_page.values(),
            query=multi_query(request.query_params.multi_items()),
        )
    return fhir_response(mask_cpr_everywhere(bundle))


@router.get("/AuditEvent/{audit_event_id}", response_class=Response, responses=_FHIR_ANSWER)
async def read_audit_event(
    audit_event_id: Text, tracking: TrackingDep, register: RegisterDep, viewer: ViewerDep, read_audit: ReadAuditDep
) -> Response:
    """One EDS delivery status (AuditEvent); 404 when there is none with this id that the caller may see.
    The read of a patient's message's AuditEvent is in the audit of reads."""
    tracking_id = tracking_id_of(audit_event_id)
    view = await tracking.get_message(tracking_id, party=viewer.organisation_id) if tracking_id else None
    events = audit_events(view, register=register) if view is not None else []
    event = next((e for e in events if e["id"] == audit_event_id), None)
    if event is None:
        raise OutcomeError(404, "not-found", None, f"no AuditEvent with id {audit_event_id}")
    if viewer.sees_patients and tracking_id:
        await read_audit.record(
            viewer,
            action="read AuditEvent",
            what=f"/fhir/AuditEvent/{audit_event_id}",
            patients=[await tracking.patient_of(tracking_id)],
        )
    return fhir_response(mask_cpr_everywhere(event))


async def _candidate_messages(
    tracking: TrackingStore, search: AuditEventSearch, party: str | None
) -> tuple[list[str], bool]:
    """The tracking ids of the newest messages (at most SCAN_LIMIT) that can hold matching AuditEvents, and whether
    more than that matched."""
    if search.matches_nothing or any(s is not None and not s for s in _organisation_sets(search)):
        return [], False
    received: dict[str, str] = {}
    truncated = False
    for sender, receiver in _narrowings(search):
        total, views = await tracking.find_messages(
            MessageQuery(
                event=search.message_type,
                sender=sender,
                receiver=receiver,
                patient=search.cpr,
                message_id=search.message_id,
                until=_utc_text(search.recorded_before),
                party=party,
                limit=SCAN_LIMIT,
            )
        )
        truncated = truncated or total > len(views)
        received.update((v["tracking_id"], str(v.get("received_at") or "")) for v in views)
    newest = sorted(received, key=lambda t: (received[t], t), reverse=True)
    return newest[:SCAN_LIMIT], truncated or len(newest) > SCAN_LIMIT


def _organisation_sets(search: AuditEventSearch) -> tuple[frozenset[str] | None, ...]:
    return search.senders, search.receivers, search.participants


def _narrowings(search: AuditEventSearch) -> list[tuple[str | None, str | None]]:
    """(sender, receiver) pairs of store queries that together find every message the search can match.

    The hub is never a delivery's receiver (its AuditEvents name it as the receiver of what it refused), so a
    receiver set that holds it does not narrow; nor do sets so large that the queries would be too many."""
    senders = sorted(search.senders) if search.senders is not None else [None]
    receivers = sorted(search.receivers) if search.receivers is not None and HUB_ID not in search.receivers else [None]
    pairs: list[tuple[str | None, str | None]] = [(s, r) for s in senders for r in receivers]
    if search.participants is not None and pairs == [(None, None)] and HUB_ID not in search.participants:
        pairs = [(p, None) for p in sorted(search.participants)] + [(None, p) for p in sorted(search.participants)]
    return pairs if len(pairs) <= _MOST_NARROWINGS else [(None, None)]


def _utc_text(value: datetime | None) -> str | None:
    """An instant as the tracking store keeps them (ISO 8601, UTC, microseconds)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds") if value is not None else None


def _searchset(
    request: Request, search: AuditEventSearch, page: list[dict[str, Any]], *, total: int, truncated: bool
) -> dict[str, Any]:
    """The searchset Bundle of one page. A search by CPR number has no next and previous links: the answer masks
    every CPR number, the links' too, so they could not be followed (raise ``_count`` instead)."""
    base = f"{str(request.base_url).rstrip('/')}/fhir/AuditEvent"
    links = [{"relation": "self", "url": str(request.url)}]
    pageable = search.cpr is None and search.count > 0
    if pageable and search.offset + search.count < total:
        following = request.url.include_query_params(_offset=search.offset + search.count, _count=search.count)
        links.append({"relation": "next", "url": str(following)})
    if pageable and search.offset > 0:
        earlier = request.url.include_query_params(_offset=max(0, search.offset - search.count), _count=search.count)
        links.append({"relation": "previous", "url": str(earlier)})
    entries: list[dict[str, Any]] = [
        {"fullUrl": f"{base}/{event['id']}", "resource": event, "search": {"mode": "match"}} for event in page
    ]
    if truncated:
        entries.append({"resource": _truncation_notice(), "search": {"mode": "outcome"}})
    return {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links, "entry": entries}


def _truncation_notice() -> dict[str, Any]:
    issue = Issue(
        Severity.WARNING,
        "too-costly",
        None,
        f"more than {SCAN_LIMIT} messages match; only the AuditEvents of the newest {SCAN_LIMIT} were searched:"
        " narrow the search with date or message-id",
    )
    return operation_outcome([issue])
