"""Subscriptions as FHIR resources: the Subscriptions R5 Backport IG for R4 (STU 1.1), for systems that subscribe
themselves (``/fhir/Subscription``, hub.api.fhir_subscriptions).

A backport ``Subscription`` names a ``SubscriptionTopic`` by its canonical URL in ``criteria``: the hub has one
topic per message kind it routes (a MedCom event code, :func:`topic_url`), and ``any-event`` for every event but
acknowledgements (the hub's ``*``). Its filters are ``backport-filter-criteria`` extensions on ``_criteria``, each a
``Bundle?<parameter>=<value>`` (several parameters joined by ``&`` in one are fine too; a ``&`` or ``%`` inside a
value is written ``%26`` / ``%25``). The parameters are the hub's filters (:data:`FILTER_PARAMETERS`).

Where this hub goes beyond the IG, with its own extensions (``https://sektor-hub.dk/fhir/StructureDefinition/...``):

- :data:`SUBSCRIBER_EXTENSION` (``valueIdentifier``, system :data:`REGISTER_ID_SYSTEM` or the SOR OID): the
  receiver. An organisation's own system may leave it out (the subscriber is the token's organisation) and may not
  name another one; the operator must name it.
- :data:`BASIS_EXTENSION` (``valueString``, in answers only): the subscription-policy rule that allows it.

Channels: ``message``, the hub delivers the matching MedCom messages themselves, the way the receiver's register
entry says (its HTTP endpoint or its mailbox), with every guarantee a delivery has; that is a hub subscription.
No other channel yet (no rest-hook notifications): refused, as is anything the hub would not honour (an ``end``, a
channel endpoint or header, heartbeats, a payload other than the full MedCom message in FHIR JSON).

Status: ``active`` is the hub's active, ``off`` its paused; ``requested`` asks for an active one (the hub activates
it at once). Pure: parsing (:func:`parse_subscription`), the resources (:func:`subscription_resource`,
:func:`subscription_topic`), and the FHIRPath of a refusal (:func:`refusal`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from hub.domain import medcom
from hub.route.event_catalogue import WILDCARD, EventCatalogue
from hub.route.register import Register
from hub.route.subscription import (
    Subscription,
    SubscriptionError,
    SubscriptionRefused,
    SubscriptionStatus,
    subscription_from_dict,
)

HUB_FHIR_BASE: Final = "https://sektor-hub.dk/fhir"  # the one base of this hub's canonical URLs
TOPIC_BASE: Final = f"{HUB_FHIR_BASE}/SubscriptionTopic/"
ANY_EVENT_TOPIC: Final = "any-event"  # the topic of the hub's '*': every event except acknowledgements
SUBSCRIBER_EXTENSION: Final = f"{HUB_FHIR_BASE}/StructureDefinition/subscriber"
BASIS_EXTENSION: Final = f"{HUB_FHIR_BASE}/StructureDefinition/subscription-basis"
REGISTER_ID_SYSTEM: Final = f"{HUB_FHIR_BASE}/NamingSystem/register-id"
SOR_SYSTEM: Final = f"urn:oid:{medcom.SOR_OID}"

BACKPORT: Final = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
BACKPORT_PROFILE: Final = f"{BACKPORT}backport-subscription"
FILTER_CRITERIA: Final = f"{BACKPORT}backport-filter-criteria"
PAYLOAD_CONTENT: Final = f"{BACKPORT}backport-payload-content"

MESSAGE_CHANNEL: Final = "message"
PAYLOAD: Final = "application/fhir+json"
FULL_RESOURCE: Final = "full-resource"
LONGEST_TEXT: Final = 4000  # characters of a reason or a filter

# FHIR filter parameter -> (the hub's filter, what it means)
FILTER_PARAMETERS: Final = {
    "municipality-code": ("municipality_code", "the patient's municipality of residence (kommunekode, 3 digits)"),
    "gp-list": ("gp_list", "the patient is listed at this GP practice: 'self' (the subscriber) or its register id"),
    "sender": ("sender", "the sending organisation: its register id or SOR code"),
    "activity": ("activity", "the message's MedCom activity code (token; several, comma-separated: any of them)"),
    "criteria": ("criteria", "a FHIRPath expression on the message Bundle that must hold (the hub's own filter)"),
}
_PARAMETER_OF: Final = {hub: name for name, (hub, _) in FILTER_PARAMETERS.items()}
REST_HOOK_REFUSAL: Final = (
    "this hub delivers subscription matches as the MedCom messages themselves to the receiver's registered endpoint "
    "or mailbox (channel 'message'); rest-hook and other notification channels are not offered yet"
)


class FhirSubscriptionError(ValueError):
    """A Subscription resource the hub cannot take: the HTTP status, the OperationOutcome issue code and the
    FHIRPath of the faulty element."""

    def __init__(self, expression: str, message: str, *, status: int = 400, code: str = "invalid") -> None:
        super().__init__(f"{expression}: {message}")
        self.expression = expression
        self.message = message
        self.status = status
        self.code = code


# --- topics -----------------------------------------------------------------------------------------------


def topic_id(event: str) -> str:
    return ANY_EVENT_TOPIC if event == WILDCARD else event


def topic_url(event: str) -> str:
    return f"{TOPIC_BASE}{topic_id(event)}"


def topic_events(known_events: Iterable[str]) -> list[str]:
    """The events with a topic: every known one but acknowledgements (they go only to the sender they answer),
    and the wildcard."""
    return [*sorted(set(known_events) - {medcom.ACKNOWLEDGEMENT_EVENT}), WILDCARD]


def event_of_topic(topic: str, known_events: Iterable[str]) -> str | None:
    """The event a topic id names, or None when the hub has no such topic."""
    for event in topic_events(known_events):
        if topic_id(event) == topic:
            return event
    return None


def subscription_topic(event: str, catalogue: EventCatalogue) -> dict[str, Any]:
    """The SubscriptionTopic (R4B/R5 shape) of one message kind the hub routes."""
    if event == WILDCARD:
        title = "Every MedCom message the hub routes (except acknowledgements)"
        trigger = "a MedCom message of any kind but an acknowledgement is routed by the hub"
    else:
        title = f"MedCom {event}"
        trigger = f"a MedCom {event} is routed by the hub"
    activities = catalogue.activity_codes(event)
    filters = []
    for name, (_, meaning) in FILTER_PARAMETERS.items():
        if name == "activity" and activities:
            meaning = f"{meaning}; one of {', '.join(sorted(activities))}"
        filters.append({"description": meaning, "resource": "Bundle", "filterParameter": name})
    return {
        "resourceType": "SubscriptionTopic",
        "id": topic_id(event),
        "url": topic_url(event),
        "title": title,
        "status": "active",
        "description": (
            f"{trigger}. A subscriber gets the message itself, delivered the way its register entry says "
            "(channel 'message'), when its filters all hold and the register's subscription policy allows it."
        ),
        "resourceTrigger": [{"description": trigger, "resource": "Bundle", "supportedInteraction": ["create"]}],
        "canFilterBy": filters,
        "notificationShape": [{"resource": "Bundle"}],
    }


# --- Subscription -> the hub's subscription ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """What a Subscription resource asks for, in the hub's terms, and where in the resource each part came from
    (the hub's field name -> FHIRPath), so that a refusal names the element."""

    receiver: str
    topic: str
    filters: Mapping[str, Any]
    status: SubscriptionStatus
    reason: str
    where: Mapping[str, str] = field(default_factory=dict)

    def subscription(self, subscription_id: str, *, created_by: str | None = None) -> Subscription:
        """The hub's subscription (not validated yet); raises SubscriptionError."""
        subscription = subscription_from_dict(
            {
                "id": subscription_id,
                "receiver": self.receiver,
                "topic": self.topic,
                "filters": dict(self.filters),
                "status": str(self.status),
                "reason": self.reason,
            }
        )
        return replace(subscription, channel=MESSAGE_CHANNEL, created_by=created_by[:200] if created_by else None)

    def expression(self, hub_field: str) -> str:
        """The FHIRPath of the element that gave the hub's field (``filters.criteria``, ``receiver``, ...)."""
        if hub_field in self.where:
            return self.where[hub_field]
        if hub_field.startswith("filters."):  # a filter the policy requires and the Subscription lacks
            return "Subscription.criteria"
        return {
            "status": "Subscription.status",
            "reason": "Subscription.reason",
            "id": "Subscription.id",
        }.get(hub_field, "Subscription.criteria")  # topic; the receiver, when the token named it


@dataclass(frozen=True, slots=True)
class Refusal:
    """How to answer a refused Subscription: status, issue code, FHIRPath, diagnostics."""

    status: int
    code: str
    expression: str
    diagnostics: str


def refusal(exc: SubscriptionError | FhirSubscriptionError, request: SubscriptionRequest | None = None) -> Refusal:
    """The answer to a Subscription the hub refuses: its own FHIR errors as they are; the hub's checks (the same
    as /api/subscriptions) with their field turned into the FHIRPath of the element and the filter names into the
    FHIR parameter names."""
    if isinstance(exc, FhirSubscriptionError):
        return Refusal(exc.status, exc.code, exc.expression, exc.message)
    expression = request.expression(exc.field) if request is not None else "Subscription"
    message = exc.message
    for hub_name, parameter in _PARAMETER_OF.items():
        message = message.replace(f"filters.{hub_name}", f"filter {parameter}")
    if isinstance(exc, SubscriptionRefused):
        return Refusal(400, "business-rule", expression, f"outside the subscription policy: {message}")
    code = "not-found" if "not in the endpoint register" in message else "invalid"
    return Refusal(400, code, expression, message)


def _text(value: Any, expression: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise FhirSubscriptionError(expression, "expected non-empty text")
    if "\x00" in value:
        raise FhirSubscriptionError(expression, "holds a NUL character")
    if len(value) > LONGEST_TEXT:
        raise FhirSubscriptionError(expression, f"longer than {LONGEST_TEXT} characters")
    return value.strip()


def _list(value: Any, expression: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FhirSubscriptionError(expression, "expected a list")
    return value


def _object(value: Any, expression: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FhirSubscriptionError(expression, "expected an object")
    return value


def _status(value: Any) -> SubscriptionStatus:
    text = _text(value, "Subscription.status")
    if text in ("requested", "active"):
        return SubscriptionStatus.ACTIVE
    if text == "off":
        return SubscriptionStatus.PAUSED
    if text == "error":
        raise FhirSubscriptionError("Subscription.status", "only the hub sets a subscription's status to error")
    raise FhirSubscriptionError("Subscription.status", f"{text!r} is not requested, active, error or off")


def _topic(criteria: Any, known_events: Iterable[str]) -> str:
    text = _text(criteria, "Subscription.criteria")
    assert text is not None
    canonical = text.partition("|")[0]  # a version, if given, is not ours to check
    topic = canonical.removeprefix(TOPIC_BASE) if canonical.startswith(TOPIC_BASE) else None
    event = event_of_topic(topic, known_events) if topic else None
    if event is None:
        raise FhirSubscriptionError(
            "Subscription.criteria",
            f"{text!r} is not a SubscriptionTopic of this hub; give one of its canonical URLs, "
            f"{TOPIC_BASE}<topic> (GET /fhir/SubscriptionTopic lists them)",
        )
    return event


def _receiver(resource: Mapping[str, Any], register: Register, caller: str | None) -> tuple[str, str | None]:
    """The receiver (register id) and the FHIRPath of the extension that named it (None: the token did)."""
    named: tuple[str, str] | None = None
    for number, extension in enumerate(_list(resource.get("extension"), "Subscription.extension")):
        where = f"Subscription.extension[{number}]"
        extension = _object(extension, where)
        if extension.get("url") != SUBSCRIBER_EXTENSION:
            continue
        if named is not None:
            raise FhirSubscriptionError(where, "the subscriber is named twice")
        identifier = _object(extension.get("valueIdentifier"), f"{where}.valueIdentifier")
        system = identifier.get("system")
        value = _text(identifier.get("value"), f"{where}.valueIdentifier.value")
        assert value is not None
        if system == REGISTER_ID_SYSTEM:
            organisation = register.by_id(value)
        elif system == SOR_SYSTEM:
            organisation = register.by_sor(value)
        else:
            raise FhirSubscriptionError(
                f"{where}.valueIdentifier.system", f"expected {REGISTER_ID_SYSTEM} (a register id) or {SOR_SYSTEM}"
            )
        if organisation is None:
            raise FhirSubscriptionError(
                f"{where}.valueIdentifier.value", f"{value!r} is not in the endpoint register", code="not-found"
            )
        named = (organisation.id, where)
    if caller is not None:
        if named is not None and named[0] != caller:
            raise FhirSubscriptionError(
                named[1],
                f"this token belongs to {caller}; an organisation subscribes only itself, not {named[0]}",
                status=403,
                code="forbidden",
            )
        return caller, named[1] if named else None
    if named is None:
        raise FhirSubscriptionError(
            "Subscription.extension",
            f"the operator names the receiver: an extension {SUBSCRIBER_EXTENSION} with a valueIdentifier "
            f"(system {REGISTER_ID_SYSTEM}, value its register id)",
        )
    return named


def _filters(resource: Mapping[str, Any], register: Register, where: dict[str, str]) -> dict[str, Any]:
    """The hub's filters from the backport-filter-criteria extensions; `where` gets each one's FHIRPath."""
    element = resource.get("_criteria")
    extensions = (
        _list(_object(element, "Subscription._criteria").get("extension"), "Subscription.criteria.extension")
        if element is not None
        else []
    )
    filters: dict[str, Any] = {}
    for number, extension in enumerate(extensions):
        path = f"Subscription.criteria.extension[{number}]"
        extension = _object(extension, path)
        if extension.get("url") != FILTER_CRITERIA:
            raise FhirSubscriptionError(f"{path}.url", f"expected {FILTER_CRITERIA}; the hub knows no other here")
        value = _text(extension.get("valueString"), f"{path}.valueString")
        assert value is not None
        resource_type, question, query = value.partition("?")
        if resource_type != "Bundle" or not question or not query:
            raise FhirSubscriptionError(
                path, f"{value!r} is not Bundle?<parameter>=<value>; the topics' messages are Bundles"
            )
        for part in query.split("&"):
            name, equals, text = part.partition("=")
            parameter = FILTER_PARAMETERS.get(name)
            if parameter is None:
                known = ", ".join(FILTER_PARAMETERS)
                raise FhirSubscriptionError(path, f"{name!r} is not a filter parameter of the topic; it has {known}")
            text = _decode(text)
            if not equals or not text.strip():
                raise FhirSubscriptionError(path, f"{name} has no value")
            hub_field = parameter[0]
            if hub_field in filters:
                raise FhirSubscriptionError(path, f"{name} is given twice; give it once")
            filters[hub_field] = _filter_value(hub_field, text.strip(), register, path)
            where[f"filters.{hub_field}"] = path
    return filters


def _decode(text: str) -> str:
    return text.replace("%26", "&").replace("%25", "%")


def _encode(text: str) -> str:
    return text.replace("%", "%25").replace("&", "%26")


def _filter_value(hub_field: str, text: str, register: Register, path: str) -> Any:
    if hub_field == "activity":  # a token: code, or system|code with MedCom's activity code system
        codes = []
        for token in text.split(","):
            system, bar, code = token.strip().rpartition("|")
            if bar and system != medcom.ACTIVITY_CODE_SYSTEM:
                raise FhirSubscriptionError(
                    path, f"activity codes are of {medcom.ACTIVITY_CODE_SYSTEM}, not {system!r}"
                )
            if not code:
                raise FhirSubscriptionError(path, "activity has an empty code")
            codes.append(code)
        return codes
    if hub_field == "sender":  # a register id, or the SOR code of an organisation in the register
        by_sor = register.by_sor(text)
        return by_sor.id if by_sor is not None and register.by_id(text) is None else text
    return text


def _channel(resource: Mapping[str, Any]) -> None:
    """Only what the hub honours: channel message, the full MedCom message in FHIR JSON, nothing else."""
    channel = _object(resource.get("channel"), "Subscription.channel")
    kind = _text(channel.get("type"), "Subscription.channel.type")
    if kind != MESSAGE_CHANNEL:
        raise FhirSubscriptionError("Subscription.channel.type", f"channel {kind!r} is refused: {REST_HOOK_REFUSAL}")
    for name in ("endpoint", "header"):
        if channel.get(name) is not None:
            raise FhirSubscriptionError(
                f"Subscription.channel.{name}",
                "with channel 'message' the hub delivers to the receiver's endpoint or mailbox as its register entry "
                f"says; leave out channel.{name}",
            )
    for number, _ in enumerate(_list(channel.get("extension"), "Subscription.channel.extension")):
        raise FhirSubscriptionError(
            f"Subscription.channel.extension[{number}]",
            "heartbeats, timeouts and max-count are for notification channels, which this hub does not offer yet; "
            "with channel 'message' each matching message is delivered with the hub's own retries",
        )
    payload = channel.get("payload")
    if payload is not None and payload != PAYLOAD:
        raise FhirSubscriptionError(
            "Subscription.channel.payload", f"the hub delivers the MedCom messages as {PAYLOAD}; give that or none"
        )
    element = channel.get("_payload")
    extensions = (
        _list(
            _object(element, "Subscription.channel._payload").get("extension"), "Subscription.channel.payload.extension"
        )
        if element is not None
        else []
    )
    for number, extension in enumerate(extensions):
        path = f"Subscription.channel.payload.extension[{number}]"
        extension = _object(extension, path)
        if extension.get("url") == PAYLOAD_CONTENT and extension.get("valueCode") != FULL_RESOURCE:
            raise FhirSubscriptionError(
                path, f"channel 'message' delivers the whole MedCom message: payload content {FULL_RESOURCE} only"
            )


def parse_subscription(
    resource: Any, *, register: Register, known_events: Iterable[str], caller: str | None
) -> SubscriptionRequest:
    """What a backport Subscription asks for. `caller` is the organisation whose token made the request (None: the
    operator). Raises :class:`FhirSubscriptionError` naming the element."""
    if not isinstance(resource, Mapping) or resource.get("resourceType") != "Subscription":
        raise FhirSubscriptionError("Subscription", "expected a FHIR Subscription resource (JSON)")
    if resource.get("modifierExtension"):
        raise FhirSubscriptionError("Subscription.modifierExtension", "the hub understands no modifier extension")
    if resource.get("end") is not None:
        raise FhirSubscriptionError(
            "Subscription.end", "this hub does not end subscriptions by time yet; set status off or delete it instead"
        )
    status = _status(resource.get("status"))
    reason = _text(resource.get("reason"), "Subscription.reason")
    assert reason is not None
    topic = _topic(resource.get("criteria"), known_events)
    _channel(resource)
    receiver, named_by = _receiver(resource, register, caller)
    where: dict[str, str] = {}
    if named_by is not None:
        where["receiver"] = named_by
    filters = _filters(resource, register, where)
    return SubscriptionRequest(receiver, topic, filters, status, reason, where)


# --- the hub's subscription -> Subscription ---------------------------------------------------------------


def filter_criteria(subscription: Subscription) -> list[str]:
    """The subscription's filters as backport filter criteria, one per filter."""
    out = []
    for hub_field, value in subscription.filters.as_dict().items():
        text = ",".join(value) if isinstance(value, list) else str(value)
        out.append(f"Bundle?{_PARAMETER_OF[hub_field]}={_encode(text)}")
    return out


def subscription_resource(subscription: Subscription) -> dict[str, Any]:
    """The backport Subscription of a hub subscription, also one made through /api/subscriptions or the register
    file (they deliver as channel 'message' too)."""
    extensions: list[dict[str, Any]] = [
        {
            "url": SUBSCRIBER_EXTENSION,
            "valueIdentifier": {"system": REGISTER_ID_SYSTEM, "value": subscription.receiver_id},
        }
    ]
    if subscription.basis:
        extensions.append({"url": BASIS_EXTENSION, "valueString": subscription.basis})
    resource: dict[str, Any] = {
        "resourceType": "Subscription",
        "id": subscription.id,
        "meta": {"profile": [BACKPORT_PROFILE]},
        "extension": extensions,
        "status": "active" if subscription.active else "off",
        "reason": subscription.reason or f"subscription {subscription.id}",
        "criteria": topic_url(subscription.topic),
        "channel": {
            "type": subscription.channel or MESSAGE_CHANNEL,
            "payload": PAYLOAD,
            "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": FULL_RESOURCE}]},
        },
    }
    criteria = filter_criteria(subscription)
    if criteria:
        resource["_criteria"] = {"extension": [{"url": FILTER_CRITERIA, "valueString": c} for c in criteria]}
    return resource
