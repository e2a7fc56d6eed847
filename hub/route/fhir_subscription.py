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

Channels:

- ``message``: the hub delivers the matching MedCom messages themselves, the way the receiver's register entry says
  (its HTTP endpoint or its mailbox), with every guarantee a delivery has.
- ``rest-hook``: the receiver's copies (those its MedCom destinations did not address to it) go as
  subscription-notification Bundles POSTed to ``channel.endpoint`` with ``channel.header``, each event numbered,
  ``empty``, ``id-only`` (the default) or ``full-resource`` (the message inside), with the same guarantees (order per
  patient, retries, dead letters, no copy twice); a handshake on activation, heartbeats at
  ``backport-heartbeat-period``; ``$status`` and ``$events`` for catching up (hub.api.fhir_subscriptions).

Anything the hub would not honour is refused (an ``end``, a payload other than FHIR JSON, unknown channel
extensions).

Status: ``active`` is the hub's active, ``off`` its paused; ``requested`` asks for an active one (the hub activates
it at once, a rest-hook once its endpoint took the handshake, else its status is ``error`` with the reason in
``Subscription.error``). Pure: parsing (:func:`parse_subscription`), the resources (:func:`subscription_resource`,
:func:`subscription_topic`), and the FHIRPath of a refusal (:func:`refusal`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final
from urllib.parse import urlsplit

from hub.domain import medcom
from hub.route.event_catalogue import WILDCARD, EventCatalogue
from hub.route.register import Register
from hub.route.subscription import (
    NotificationContent,
    RestHook,
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

HEARTBEAT_PERIOD: Final = f"{BACKPORT}backport-heartbeat-period"
TIMEOUT: Final = f"{BACKPORT}backport-timeout"
MAX_COUNT: Final = f"{BACKPORT}backport-max-count"

MESSAGE_CHANNEL: Final = "message"
REST_HOOK_CHANNEL: Final = "rest-hook"
PAYLOAD: Final = "application/fhir+json"
FULL_RESOURCE: Final = "full-resource"
HEADER_NAME: Final = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
# headers of a notification that are the hub's own
RESERVED_HEADERS: Final = frozenset({"content-type", "content-length", "host", "transfer-encoding", "connection"})
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
CHANNEL_REFUSAL: Final = (
    "this hub offers channel 'message' (the MedCom messages themselves, to the receiver's registered endpoint or "
    "mailbox) and 'rest-hook' (subscription-notification Bundles POSTed to channel.endpoint)"
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
    rest_hook: RestHook | None = None  # channel rest-hook (None: channel message)

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
        return replace(
            subscription,
            channel=REST_HOOK_CHANNEL if self.rest_hook else MESSAGE_CHANNEL,
            rest_hook=self.rest_hook,
            created_by=created_by[:200] if created_by else None,
        )

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


def _payload_content(channel: Mapping[str, Any]) -> tuple[NotificationContent | None, str]:
    """The backport payload content asked for on channel._payload (None: not given), and its FHIRPath."""
    element = channel.get("_payload")
    extensions = (
        _list(
            _object(element, "Subscription.channel._payload").get("extension"), "Subscription.channel.payload.extension"
        )
        if element is not None
        else []
    )
    content, where = None, "Subscription.channel.payload"
    for number, extension in enumerate(extensions):
        path = f"Subscription.channel.payload.extension[{number}]"
        extension = _object(extension, path)
        if extension.get("url") != PAYLOAD_CONTENT:
            continue
        code = extension.get("valueCode")
        try:
            content, where = NotificationContent(str(code)), path
        except ValueError:
            raise FhirSubscriptionError(
                f"{path}.valueCode", f"{code!r} is not empty, id-only or full-resource"
            ) from None
    return content, where


def _message_channel(channel: Mapping[str, Any]) -> None:
    """Channel message: only what the hub honours, the full MedCom message in FHIR JSON to the register's endpoint."""
    for name in ("endpoint", "header"):
        if channel.get(name) is not None:
            raise FhirSubscriptionError(
                f"Subscription.channel.{name}",
                "with channel 'message' the hub delivers to the receiver's endpoint or mailbox as its register entry "
                f"says; leave out channel.{name} (or use channel rest-hook)",
            )
    for number, _ in enumerate(_list(channel.get("extension"), "Subscription.channel.extension")):
        raise FhirSubscriptionError(
            f"Subscription.channel.extension[{number}]",
            "heartbeats, timeouts and max-count are for channel rest-hook; with channel 'message' each matching "
            "message is delivered with the hub's own retries",
        )
    content, where = _payload_content(channel)
    if content is not None and content is not NotificationContent.FULL_RESOURCE:
        raise FhirSubscriptionError(
            where,
            f"channel 'message' delivers the whole MedCom message: payload content {FULL_RESOURCE} only",
        )


def _seconds(extension: Mapping[str, Any], path: str, kind: str, *, most: int) -> int:
    value = extension.get(kind)
    if not isinstance(value, int) or isinstance(value, bool) or value < (1 if kind == "valuePositiveInt" else 0):
        raise FhirSubscriptionError(f"{path}.{kind}", f"expected {kind} (a whole number of seconds)")
    if value > most:
        raise FhirSubscriptionError(f"{path}.{kind}", f"at most {most}")
    return value


def _rest_hook(channel: Mapping[str, Any]) -> RestHook:
    """Channel rest-hook: the endpoint (http or https), headers, heartbeat period, timeout and payload content."""
    endpoint = _text(channel.get("endpoint"), "Subscription.channel.endpoint")
    assert endpoint is not None
    parsed = urlsplit(endpoint)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise FhirSubscriptionError("Subscription.channel.endpoint", f"{endpoint!r} is not an http(s) URL")
    headers = []
    for number, header in enumerate(_list(channel.get("header"), "Subscription.channel.header")):
        path = f"Subscription.channel.header[{number}]"
        text = _text(header, path)
        assert text is not None
        name, colon, value = text.partition(":")
        if not colon or not HEADER_NAME.match(name.strip()) or not value.strip() or "\n" in text or "\r" in text:
            raise FhirSubscriptionError(path, "expected one HTTP header, 'Name: value'")
        if name.strip().lower() in RESERVED_HEADERS:
            raise FhirSubscriptionError(path, f"the hub sets {name.strip()} itself")
        headers.append(f"{name.strip()}: {value.strip()}")
    heartbeat = timeout = None
    for number, extension in enumerate(_list(channel.get("extension"), "Subscription.channel.extension")):
        path = f"Subscription.channel.extension[{number}]"
        extension = _object(extension, path)
        url = extension.get("url")
        if url == HEARTBEAT_PERIOD:
            heartbeat = _seconds(extension, path, "valueUnsignedInt", most=86_400) or None
        elif url == TIMEOUT:
            timeout = _seconds(extension, path, "valueUnsignedInt", most=300) or None
        elif url == MAX_COUNT:
            _seconds(extension, path, "valuePositiveInt", most=10_000)  # one event per notification fits any
        else:
            raise FhirSubscriptionError(f"{path}.url", f"{url!r} is not a channel extension the hub knows")
    content = _payload_content(channel)[0] or NotificationContent.ID_ONLY
    return RestHook(endpoint, tuple(headers), content, heartbeat, timeout)


def _channel(resource: Mapping[str, Any]) -> RestHook | None:
    """The channel: message (None) or rest-hook; notifications in FHIR JSON only."""
    channel = _object(resource.get("channel"), "Subscription.channel")
    kind = _text(channel.get("type"), "Subscription.channel.type")
    payload = channel.get("payload")
    if payload is not None and payload != PAYLOAD:
        raise FhirSubscriptionError(
            "Subscription.channel.payload", f"the hub sends {PAYLOAD}; give that or none (FHIR XML is not offered yet)"
        )
    if kind == MESSAGE_CHANNEL:
        _message_channel(channel)
        return None
    if kind == REST_HOOK_CHANNEL:
        return _rest_hook(channel)
    raise FhirSubscriptionError("Subscription.channel.type", f"channel {kind!r} is refused: {CHANNEL_REFUSAL}")


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
    rest_hook = _channel(resource)
    receiver, named_by = _receiver(resource, register, caller)
    where: dict[str, str] = {}
    if named_by is not None:
        where["receiver"] = named_by
    filters = _filters(resource, register, where)
    return SubscriptionRequest(receiver, topic, filters, status, reason, where, rest_hook)


# --- the hub's subscription -> Subscription ---------------------------------------------------------------


def fhir_status(subscription: Subscription) -> str:
    """Subscription.status: active, off (the hub's paused) or error."""
    return {SubscriptionStatus.ACTIVE: "active", SubscriptionStatus.ERROR: "error"}.get(subscription.status, "off")


def _channel_element(rest_hook: RestHook | None) -> dict[str, Any]:
    content = rest_hook.content if rest_hook else FULL_RESOURCE
    channel: dict[str, Any] = {"type": REST_HOOK_CHANNEL if rest_hook else MESSAGE_CHANNEL}
    if rest_hook is not None:
        channel["endpoint"] = rest_hook.endpoint
        if rest_hook.headers:
            channel["header"] = list(rest_hook.headers)
        extensions = []
        if rest_hook.heartbeat_seconds:
            extensions.append({"url": HEARTBEAT_PERIOD, "valueUnsignedInt": rest_hook.heartbeat_seconds})
        if rest_hook.timeout_seconds:
            extensions.append({"url": TIMEOUT, "valueUnsignedInt": rest_hook.timeout_seconds})
        if extensions:
            channel["extension"] = extensions
    channel["payload"] = PAYLOAD
    channel["_payload"] = {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": str(content)}]}
    return channel


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
        "status": fhir_status(subscription),
        "reason": subscription.reason or f"subscription {subscription.id}",
        "criteria": topic_url(subscription.topic),
        "channel": _channel_element(subscription.rest_hook),
    }
    if subscription.error:
        resource["error"] = subscription.error
    criteria = filter_criteria(subscription)
    if criteria:
        resource["_criteria"] = {"extension": [{"url": FILTER_CRITERIA, "valueString": c} for c in criteria]}
    return resource
