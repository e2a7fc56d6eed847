"""Receiving systems subscribe themselves: ``/fhir/SubscriptionTopic`` and ``/fhir/Subscription`` (the
Subscriptions R5 Backport IG for R4; the mapping is hub.route.fhir_subscription).

An organisation's system, by its own bearer token, creates, reads, changes and deletes its own subscriptions (the
subscriber is the token's organisation); another organisation's are not found, exactly as ones that do not exist.
The operator (an administrator to change them) sees and manages every one, naming the receiver with the hub's
subscriber extension. A Subscription is a hub subscription: the same checks as ``/api/subscriptions`` (it must be
able to deliver, and the register's subscription policy must allow it), stored in the same table, and the operator
API manages it like any other. The topics are readable by any authenticated caller.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from fastapi import APIRouter, Request, Response

from hub.api.deps import RegisterDep, SubscriptionsDep, ViewerDep
from hub.api.params import Text
from hub.api.responses import FHIR_JSON, OutcomeError, fhir_response
from hub.domain.operators import Role, Viewer
from hub.route.event_catalogue import shipped_event_catalogue
from hub.route.fhir_subscription import (
    FhirSubscriptionError,
    SubscriptionRequest,
    event_of_topic,
    parse_subscription,
    refusal,
    subscription_resource,
    subscription_topic,
    topic_events,
)
from hub.route.register import Register
from hub.route.subscription import Subscription, SubscriptionError, SubscriptionStatus
from hub.route.subscription_store import SubscriptionExists, SubscriptionService

router = APIRouter(prefix="/fhir", tags=["fhir subscriptions"])

LARGEST_BODY: Final = 64 * 1024  # bytes of one Subscription resource
_FHIR_ANSWER: Final[dict[int | str, dict[str, Any]]] = {200: {"content": {FHIR_JSON: {}}, "description": "FHIR JSON"}}
_CREATED: Final[dict[int | str, dict[str, Any]]] = {201: {"content": {FHIR_JSON: {}}, "description": "FHIR JSON"}}
_SUBSCRIPTION_BODY: Final = {
    "requestBody": {
        "required": True,
        "content": {
            FHIR_JSON: {"schema": {"type": "object", "description": "a backport Subscription (R4)"}},
            "application/json": {"schema": {"type": "object", "description": "a backport Subscription (R4)"}},
        },
    }
}
_STATUS_PARAMETER: Final = {
    "parameters": [
        {
            "name": "status",
            "in": "query",
            "required": False,
            "description": "requested, active, error or off (the hub's paused)",
            "schema": {"type": "string"},
        }
    ]
}
_URL_PARAMETER: Final = {
    "parameters": [
        {
            "name": "url",
            "in": "query",
            "required": False,
            "description": "the topic's canonical URL",
            "schema": {"type": "string"},
        }
    ]
}


def _searchset(request: Request, kind: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    base = f"{str(request.base_url).rstrip('/')}/fhir/{kind}"
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": str(request.url)}],
        "entry": [{"fullUrl": f"{base}/{r['id']}", "resource": r, "search": {"mode": "match"}} for r in resources],
    }


# --- SubscriptionTopic ------------------------------------------------------------------------------------


@router.get("/SubscriptionTopic", response_class=Response, responses=_FHIR_ANSWER, openapi_extra=_URL_PARAMETER)
async def search_subscription_topics(request: Request, service: SubscriptionsDep, _: ViewerDep) -> Response:
    """The topics one may subscribe to: one per message kind the hub routes, and any-event."""
    catalogue = shipped_event_catalogue()
    topics = [subscription_topic(e, catalogue) for e in topic_events(service.known_events)]
    wanted = request.query_params.getlist("url")
    if wanted:
        topics = [t for t in topics if t["url"] in wanted]
    return fhir_response(_searchset(request, "SubscriptionTopic", topics))


@router.get("/SubscriptionTopic/{topic_id}", response_class=Response, responses=_FHIR_ANSWER)
async def read_subscription_topic(topic_id: Text, service: SubscriptionsDep, _: ViewerDep) -> Response:
    event = event_of_topic(topic_id, service.known_events)
    if event is None:
        raise OutcomeError(404, "not-found", None, f"no SubscriptionTopic with id {topic_id}")
    return fhir_response(subscription_topic(event, shipped_event_catalogue()))


# --- Subscription -----------------------------------------------------------------------------------------


def _not_found(subscription_id: str) -> OutcomeError:
    return OutcomeError(404, "not-found", None, f"no Subscription with id {subscription_id}")


def _may_change(viewer: Viewer) -> None:
    """An organisation changes its own; an operator needs the administrator role (as for /api/subscriptions)."""
    if viewer.organisation_id is None and not viewer.may(Role.ADMINISTRATOR):
        raise OutcomeError(
            403, "forbidden", None, f"{viewer.person} is a {viewer.role}; this needs the administrator role"
        )


async def visible_subscription(service: SubscriptionService, subscription_id: str, viewer: Viewer) -> Subscription:
    """The subscription, when the caller may see it: the operator every one, an organisation those it receives."""
    found = await service.store.get(subscription_id)
    if found is None or (viewer.organisation_id is not None and found.receiver_id != viewer.organisation_id):
        raise _not_found(subscription_id)
    return found


async def _resource(request: Request) -> Any:
    body = await request.body()
    if len(body) > LARGEST_BODY:
        raise OutcomeError(413, "too-long", None, f"a Subscription is at most {LARGEST_BODY} bytes")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OutcomeError(400, "structure", None, f"the body is not JSON: {exc}") from None


def _refused(exc: SubscriptionError | FhirSubscriptionError, request: SubscriptionRequest | None) -> OutcomeError:
    answer = refusal(exc, request)
    return OutcomeError(answer.status, answer.code, answer.expression, answer.diagnostics)


def _parse(resource: Any, register: Register, service: SubscriptionService, viewer: Viewer) -> SubscriptionRequest:
    try:
        return parse_subscription(
            resource, register=register, known_events=service.known_events, caller=viewer.organisation_id
        )
    except FhirSubscriptionError as exc:
        raise _refused(exc, None) from exc


def _location(request: Request, subscription_id: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/fhir/Subscription/{subscription_id}"


@router.post(
    "/Subscription", status_code=201, response_class=Response, responses=_CREATED, openapi_extra=_SUBSCRIPTION_BODY
)
async def create_subscription(
    request: Request, service: SubscriptionsDep, register: RegisterDep, viewer: ViewerDep
) -> Response:
    """Subscribe: with an organisation's token, the organisation itself; the operator names the receiver. 201 with
    the stored Subscription (its basis in the policy as an extension); 400 naming the element otherwise."""
    _may_change(viewer)
    asked = _parse(await _resource(request), register, service, viewer)
    created_by = viewer.organisation_id or viewer.person
    try:
        stored = await service.create(asked.subscription(service.new_id(), created_by=created_by), origin="fhir")
    except SubscriptionError as exc:
        raise _refused(exc, asked) from exc
    except SubscriptionExists as exc:  # a fresh uuid: only when the store misbehaves
        raise OutcomeError(409, "duplicate", "Subscription.id", str(exc)) from exc
    return fhir_response(
        subscription_resource(stored), status_code=201, headers={"Location": _location(request, stored.id)}
    )


@router.get("/Subscription", response_class=Response, responses=_FHIR_ANSWER, openapi_extra=_STATUS_PARAMETER)
async def search_subscriptions(request: Request, service: SubscriptionsDep, viewer: ViewerDep) -> Response:
    """The caller's own Subscriptions (the operator: every one), oldest first; ``status`` narrows them."""
    statuses = request.query_params.getlist("status")
    wanted: set[SubscriptionStatus] = set()
    for value in ",".join(statuses).split(",") if statuses else []:
        if value == "active":
            wanted.add(SubscriptionStatus.ACTIVE)
        elif value == "off":
            wanted.add(SubscriptionStatus.PAUSED)
        elif value not in ("requested", "error"):  # the hub holds none of those
            raise OutcomeError(400, "value", "http.status", f"{value!r} is not requested, active, error or off")
    found = await service.store.list(receiver=viewer.organisation_id)
    if statuses:
        found = [s for s in found if s.status in wanted]
    return fhir_response(_searchset(request, "Subscription", [subscription_resource(s) for s in found]))


@router.get("/Subscription/{subscription_id}", response_class=Response, responses=_FHIR_ANSWER)
async def read_subscription(subscription_id: Text, service: SubscriptionsDep, viewer: ViewerDep) -> Response:
    return fhir_response(subscription_resource(await visible_subscription(service, subscription_id, viewer)))


@router.put(
    "/Subscription/{subscription_id}",
    response_class=Response,
    responses=_FHIR_ANSWER,
    openapi_extra=_SUBSCRIPTION_BODY,
)
async def update_subscription(
    subscription_id: Text, request: Request, service: SubscriptionsDep, register: RegisterDep, viewer: ViewerDep
) -> Response:
    """Change a Subscription's topic, filters, reason or status (active, or off: paused), with the same checks as a
    new one. Its receiver stays; create a new Subscription with PUT is not offered (404: use POST)."""
    _may_change(viewer)
    existing = await visible_subscription(service, subscription_id, viewer)
    resource = await _resource(request)
    if isinstance(resource, dict) and resource.get("id") not in (None, subscription_id):
        raise OutcomeError(400, "invalid", "Subscription.id", f"the resource's id is not {subscription_id}")
    asked = _parse(resource, register, service, viewer)
    if asked.receiver != existing.receiver_id:
        raise OutcomeError(
            400,
            "invalid",
            asked.where.get("receiver", "Subscription.extension"),
            f"the subscriber of Subscription {subscription_id} is {existing.receiver_id}; it cannot change",
        )
    try:
        changed = asked.subscription(subscription_id, created_by=existing.created_by)
        stored = await service.update(changed)
    except SubscriptionError as exc:
        raise _refused(exc, asked) from exc
    if stored is None:  # deleted meanwhile
        raise _not_found(subscription_id)
    return fhir_response(subscription_resource(stored))


@router.delete("/Subscription/{subscription_id}", status_code=204, response_class=Response)
async def delete_subscription(subscription_id: Text, service: SubscriptionsDep, viewer: ViewerDep) -> Response:
    """Unsubscribe: no more messages through it."""
    _may_change(viewer)
    await visible_subscription(service, subscription_id, viewer)
    if not await service.delete(subscription_id):
        raise _not_found(subscription_id)
    return Response(status_code=204)
