"""Catching up on a rest-hook subscription: ``$status``, ``$events`` (the Subscriptions R5 Backport IG for R4), and
``GET /fhir/Bundle/<id>``, where an id-only notification's focus points.

A system that was down asks ``$status`` how many events its subscription has had (events-since-subscription-start),
and ``$events`` for the numbers it has not seen: each event once, by its number, at most 100 an answer. What
``$events`` hands over in full (content full-resource) counts as delivered to the subscriber: the hub's retries do
not push it again, so a system that catches up this way gets nothing twice. Every answer that carries a message
is in the audit of reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import orjson
from fastapi import APIRouter, Request, Response

from hub.api.deps import ArchiveDep, LedgerDep, ReadAuditDep, RestHooksDep, SubscriptionsDep, TrackingDep, ViewerDep
from hub.api.fhir_subscriptions import visible_subscription
from hub.api.params import Text
from hub.api.responses import FHIR_JSON, OutcomeError, fhir_response
from hub.deliver.subscription_events import LONGEST_PAGE
from hub.domain.operators import Role
from hub.fhirxml.convert import json_text
from hub.fhirxml.media import MEDIA_TYPES, sniffed_format
from hub.messages.subscription_notification import NotificationType, SubscriptionEvent, notification_bundle
from hub.route.subscription import NotificationContent, Subscription

router = APIRouter(prefix="/fhir", tags=["fhir subscriptions"])

_FHIR_ANSWER: Final[dict[int | str, dict[str, Any]]] = {200: {"content": {FHIR_JSON: {}}, "description": "FHIR JSON"}}


Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def _operation(path: str) -> Callable[[Endpoint], Endpoint]:
    """A FHIR operation, invoked with GET (parameters in the query) or POST (a Parameters resource)."""

    def register(endpoint: Endpoint) -> Endpoint:
        for method in ("get", "post"):
            route = getattr(router, method)
            route(path, response_class=Response, responses=_FHIR_ANSWER, operation_id=f"{endpoint.__name__}_{method}")(
                endpoint
            )
        return endpoint

    return register


async def _parameters(request: Request) -> dict[str, str]:
    """The operation's parameters: the query string, and for POST a Parameters resource (valueString/valueCode)."""
    given = {name: value for name, value in request.query_params.items()}
    if request.method == "POST":
        body = await request.body()
        if body.strip():
            try:
                resource = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise OutcomeError(400, "structure", None, "the body is not a FHIR Parameters resource") from None
            if not isinstance(resource, dict) or resource.get("resourceType") != "Parameters":
                raise OutcomeError(400, "structure", "Parameters", "expected a FHIR Parameters resource")
            for number, parameter in enumerate(resource.get("parameter") or []):
                if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
                    raise OutcomeError(400, "structure", f"Parameters.parameter[{number}]", "expected a name")
                value = next((v for k, v in parameter.items() if k.startswith("value")), None)
                given[parameter["name"]] = str(value) if value is not None else ""
    return given


def _number(parameters: dict[str, str], name: str) -> int | None:
    text = parameters.get(name)
    if text is None or text == "":
        return None
    if not text.isdigit() or len(text) > 12:
        raise OutcomeError(400, "value", name, f"{text!r} is not an event number (a whole number from 1)")
    return int(text)


@_operation("/Subscription/{subscription_id}/$status")
async def subscription_status(
    subscription_id: Text,
    subscriptions: SubscriptionsDep,
    rest_hooks: RestHooksDep,
    viewer: ViewerDep,
) -> Response:
    """The subscription's status and how many events it has had (events-since-subscription-start)."""
    subscription = await visible_subscription(subscriptions, subscription_id, viewer)
    count = await rest_hooks.events.count(subscription.id)
    bundle = notification_bundle(
        subscription,
        base=rest_hooks.base_url,  # as in the notifications: HUB_PUBLIC_URL
        kind=NotificationType.QUERY_STATUS,
        events_since_start=count,
        now=_now(),
        notification_id=subscriptions.new_id(),
        content=NotificationContent.EMPTY,
    )
    return fhir_response(bundle)


@_operation("/Subscription/{subscription_id}/$events")
async def subscription_events(
    subscription_id: Text,
    request: Request,
    subscriptions: SubscriptionsDep,
    rest_hooks: RestHooksDep,
    archive: ArchiveDep,
    ledger: LedgerDep,
    tracking: TrackingDep,
    read_audit: ReadAuditDep,
    viewer: ViewerDep,
) -> Response:
    """The events numbered eventsSinceNumber (default 1) to eventsUntilNumber (default: the latest), at most 100,
    as a notification Bundle (query-event); ``content`` empty, id-only or full-resource (default: the
    subscription's). An event no longer kept (past the retention) is named in the status's error."""
    subscription = await visible_subscription(subscriptions, subscription_id, viewer)
    parameters = await _parameters(request)
    count = await rest_hooks.events.count(subscription.id)
    since = _number(parameters, "eventsSinceNumber") or 1
    until = min(_number(parameters, "eventsUntilNumber") or count, count, since + LONGEST_PAGE - 1)
    content = _content(parameters.get("content"), subscription)
    if content is NotificationContent.FULL_RESOURCE and viewer.is_operator and not viewer.may(Role.ADMINISTRATOR):
        raise OutcomeError(403, "forbidden", "content", "the messages themselves are for administrators to read")
    found = await rest_hooks.events.between(subscription.id, since, until) if since <= until else []
    events = [event for event, _, _ in found]
    if content is NotificationContent.FULL_RESOURCE:
        events = await _with_messages(events, archive)
    given = {e.number for e in events if e.message is not None or content is not NotificationContent.FULL_RESOURCE}
    missing = [number for number in range(since, until + 1) if number not in given]
    bundle = notification_bundle(
        subscription,
        base=rest_hooks.base_url,  # as in the notifications: HUB_PUBLIC_URL
        kind=NotificationType.QUERY_EVENT,
        events_since_start=count,
        now=_now(),
        notification_id=subscriptions.new_id(),
        events=events,
        content=content,
        error=_missing_text(missing) if missing else None,
    )
    if content is not NotificationContent.EMPTY and events:
        await read_audit.record(
            viewer,
            action="read subscription events",
            what=f"/fhir/Subscription/{subscription.id}/$events",
            patients=(await tracking.patients_of(e.tracking_id for e in events)).values(),
            query={k: v for k, v in parameters.items() if k in ("eventsSinceNumber", "eventsUntilNumber", "content")},
        )
    if content is NotificationContent.FULL_RESOURCE and viewer.organisation_id is not None:
        # handed over: a retry of these copies finds them in the ledger and does not push them again
        for event, (_, sender, message_id) in zip(events, found, strict=True):
            if event.message is not None:
                await ledger.add(
                    sender=sender,
                    message_id=message_id,
                    receiver=subscription.receiver_id,
                    tracking_id=event.tracking_id,
                )
    return fhir_response(bundle)


def _content(text: str | None, subscription: Subscription) -> NotificationContent:
    if not text:
        return subscription.rest_hook.content if subscription.rest_hook else NotificationContent.FULL_RESOURCE
    try:
        return NotificationContent(text)
    except ValueError:
        raise OutcomeError(400, "value", "content", f"{text!r} is not empty, id-only or full-resource") from None


async def _with_messages(events: list[SubscriptionEvent], archive: ArchiveDep) -> list[SubscriptionEvent]:
    out = []
    for event in events:
        kept = await archive.get(event.tracking_id)
        # the notification Bundle is FHIR JSON: a message that came in as XML goes in it converted
        out.append(replace(event, message=json_text(kept.raw)) if kept is not None else event)
    return out


def _missing_text(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:20]) + (" ..." if len(numbers) > 20 else "")
    return f"events no longer kept (past the retention), or not the hub's to give: {shown}"


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("/Bundle/{bundle_id}", response_class=Response, responses=_FHIR_ANSWER)
async def read_message(
    bundle_id: Text,
    tracking: TrackingDep,
    archive: ArchiveDep,
    read_audit: ReadAuditDep,
    viewer: ViewerDep,
) -> Response:
    """A MedCom message by its Bundle.id, as it came in: an organisation reads the messages it sent or was routed
    (an id-only notification's focus); an operator needs the administrator role. Audited."""
    if viewer.is_operator and not viewer.may(Role.ADMINISTRATOR):
        raise OutcomeError(403, "forbidden", None, "the messages themselves are for administrators to read")
    tracking_id = await tracking.copy_of_bundle(bundle_id, party=viewer.organisation_id)
    kept = await archive.get(tracking_id) if tracking_id is not None else None
    if tracking_id is None or kept is None:
        raise OutcomeError(404, "not-found", None, f"no message with Bundle.id {bundle_id} for this caller")
    await read_audit.record(
        viewer,
        action="read message",
        what=f"/fhir/Bundle/{bundle_id}",
        patients=(await tracking.patients_of([tracking_id])).values(),
    )
    return Response(kept.raw, media_type=MEDIA_TYPES[sniffed_format(kept.raw)])
