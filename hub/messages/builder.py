"""Pure builders for the parts of a MedCom message Bundle, as plain dicts.

Each function builds one resource (or one element of one); `bundle` puts them in a Bundle and `message`
assembles a whole message; `carbon_copy` makes the copy a cc receiver gets as a message of its own. Nothing
here reads the clock, and ids come from the caller (or from the
`new_id` factory it passes), so a message built twice from the same inputs is the same message. Entries
get absolute fullUrls under `BASE_URL`; references are relative (`Organization/<id>`) and resolve to those
entries by type and id.
"""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from hub.domain import medcom, sektorhub
from hub.domain.message import OrganisationRef, identifier_value

BASE_URL = "https://sektor-hub.example/fhir"

Resource = dict[str, Any]
IdFactory = Callable[[], str]


def random_id() -> str:
    """A fresh random UUID v4."""
    return str(uuid.uuid4())


def seeded_ids(rng: random.Random) -> IdFactory:
    """UUID v4 strings drawn from `rng`: the same seed gives the same ids."""
    return lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))


def fhir_datetime(now: datetime) -> str:
    """A FHIR instant/dateTime with its UTC offset, to the second; a naive datetime is refused."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("MedCom timestamps carry a timezone; pass a timezone-aware datetime")
    return now.isoformat(timespec="seconds")


def coding(system: str, code: str) -> dict[str, str]:
    return {"system": system, "code": code}


def event_coding(event: str) -> dict[str, str]:
    """MessageHeader.eventCoding of `event`: a MedCom event code, or one of the hub's own in its own CodeSystem."""
    return coding(sektorhub.EVENT_CODE_SYSTEM if event in sektorhub.EVENTS else medcom.EVENT_CODE_SYSTEM, event)


def reference(resource: Resource) -> dict[str, str]:
    """A relative reference (`Type/id`) to a resource that is, or will be, an entry of the same Bundle."""
    return {"reference": f"{resource['resourceType']}/{resource['id']}"}


def full_url(resource: Resource) -> str:
    return f"{BASE_URL}/{resource['resourceType']}/{resource['id']}"


def sor_endpoint(organisation: Resource) -> str:
    """The endpoint URL of an Organization as MedCom messages write it: its SOR2 entry."""
    sor = identifier_value(organisation, medcom.SOR_SYSTEM)
    return f"{medcom.SOR_ENDPOINT_PREFIX}{sor}" if sor else BASE_URL


def _with_profile(resource_type: str, resource_id: str, profile: str | None) -> Resource:
    resource: Resource = {"resourceType": resource_type, "id": resource_id}
    if profile:
        resource["meta"] = {"profile": [profile]}
    return resource


def organization(org: OrganisationRef, *, resource_id: str) -> Resource:
    """A MedCom messaging Organization: GLN and SOR identifiers and the name."""
    resource = _with_profile("Organization", resource_id, medcom.MESSAGING_ORGANIZATION_PROFILE)
    identifiers = []
    if org.gln:
        identifiers.append({"system": medcom.GLN_SYSTEM, "value": org.gln})
    if org.sor:
        identifiers.append({"system": medcom.SOR_SYSTEM, "value": org.sor})
    resource["identifier"] = identifiers
    if org.name:
        resource["name"] = org.name
    return resource


def patient(
    cpr: str,
    *,
    resource_id: str,
    family: str | None = None,
    given: Sequence[str] = (),
    deceased: bool | None = None,
) -> Resource:
    """A MedCom core Patient identified by CPR number, with an official name when one is given."""
    resource = _with_profile("Patient", resource_id, medcom.CORE_PATIENT_PROFILE)
    resource["identifier"] = [{"system": medcom.CPR_SYSTEM, "value": cpr}]
    if family or given:
        name: dict[str, Any] = {"use": "official"}
        if family:
            name["family"] = family
        if given:
            name["given"] = list(given)
        resource["name"] = [name]
    if deceased is not None:
        resource["deceasedBoolean"] = deceased
    return resource


def destination(receiver: Resource, *, use: str = "primary") -> dict[str, Any]:
    """One MessageHeader.destination: the destinationUse extension (primary | cc), endpoint and receiver."""
    if use not in ("primary", "cc"):
        raise ValueError(f"destination use is primary or cc, not {use!r}")
    return {
        "extension": [
            {
                "url": medcom.DESTINATION_USE_EXTENSION,
                "valueCoding": coding(medcom.DESTINATION_USE_SYSTEM, use),
            }
        ],
        "endpoint": sor_endpoint(receiver),
        "receiver": reference(receiver),
    }


def message_header(
    *,
    resource_id: str,
    profile: str,
    event: str,
    sender: Resource,
    destinations: Sequence[dict[str, Any]],
    focus: Sequence[Resource] = (),
    response: dict[str, Any] | None = None,
    definition: str | None = None,
    extensions: Sequence[dict[str, Any]] = (),
) -> Resource:
    """A MessageHeader: the event (see event_coding), destinations, sender, source, focus, response."""
    header = _with_profile("MessageHeader", resource_id, profile)
    if extensions:
        header["extension"] = list(extensions)
    header["eventCoding"] = event_coding(event)
    header["destination"] = list(destinations)
    header["sender"] = reference(sender)
    header["source"] = {"endpoint": sor_endpoint(sender)}
    if response is not None:
        header["response"] = response
    if focus:
        header["focus"] = [reference(resource) for resource in focus]
    if definition:
        header["definition"] = definition
    return header


def revision_of(message_id: str) -> dict[str, Any]:
    """A Provenance.entity naming the earlier message this one answers or follows (role revision)."""
    return {"role": "revision", "what": {"reference": f"MessageHeader/{message_id}"}}


def provenance(
    *,
    resource_id: str,
    header: Resource,
    activity: str,
    agent: Resource,
    now: datetime,
    profile: str = medcom.MESSAGING_PROVENANCE_PROFILE,
    entities: Iterable[dict[str, Any]] = (),
) -> Resource:
    """The Provenance of a message: what happened (activity), when, by whom (agent organisation)."""
    resource = _with_profile("Provenance", resource_id, profile)
    stamp = fhir_datetime(now)
    resource["target"] = [reference(header)]
    resource["occurredDateTime"] = stamp
    resource["recorded"] = stamp
    resource["activity"] = {"coding": [coding(medcom.ACTIVITY_CODE_SYSTEM, activity)]}
    resource["agent"] = [{"who": reference(agent)}]
    entity_list = list(entities)
    if entity_list:
        resource["entity"] = entity_list
    return resource


def bundle(*, resource_id: str, profile: str, now: datetime, resources: Sequence[Resource]) -> Resource:
    """A message Bundle of `resources`, the first of which is the MessageHeader."""
    if not resources or resources[0].get("resourceType") != "MessageHeader":
        raise ValueError("the first entry of a message Bundle is its MessageHeader")
    if resources[0].get("id") == resource_id:
        raise ValueError("Bundle.id is new for every send and differs from MessageHeader.id")
    entries = [{"fullUrl": full_url(resource), "resource": resource} for resource in resources]
    if len({entry["fullUrl"] for entry in entries}) != len(entries):
        raise ValueError("two entries of the Bundle have the same type and id")
    return {
        "resourceType": "Bundle",
        "id": resource_id,
        "meta": {"profile": [profile]},
        "type": "message",
        "timestamp": fhir_datetime(now),
        "entry": entries,
    }


def message(
    *,
    new_id: IdFactory,
    now: datetime,
    bundle_profile: str,
    header_profile: str,
    event: str,
    activity: str,
    sender: Resource,
    receivers: Sequence[tuple[Resource, str]],
    content: Sequence[Resource] = (),
    focus: Resource | None = None,
    response: dict[str, Any] | None = None,
    definition: str | None = None,
    header_extensions: Sequence[dict[str, Any]] = (),
    provenance_profile: str = medcom.MESSAGING_PROVENANCE_PROFILE,
    entities: Iterable[dict[str, Any]] = (),
    message_id: str | None = None,
) -> Resource:
    """A whole message: MessageHeader, `content`, the sender and receiver Organizations, its Provenance.

    `receivers` are (Organization, "primary" | "cc") pairs. This message goes to the primary receiver; the cc
    receivers get a message of their own, `carbon_copy` of this one (MedCom's rule for copies). `message_id` keeps
    a MessageHeader.id across resends; by default it is new. The Bundle id and the Provenance id are always new.
    """
    header = message_header(
        resource_id=message_id or new_id(),
        profile=header_profile,
        event=event,
        sender=sender,
        destinations=[destination(receiver, use=use) for receiver, use in receivers],
        focus=(focus,) if focus is not None else (),
        response=response,
        definition=definition,
        extensions=header_extensions,
    )
    prov = provenance(
        resource_id=new_id(),
        header=header,
        activity=activity,
        agent=sender,
        now=now,
        profile=provenance_profile,
        entities=entities,
    )
    organisations = [sender, *(receiver for receiver, _ in receivers)]
    return bundle(
        resource_id=new_id(),
        profile=bundle_profile,
        now=now,
        resources=[header, *content, *organisations, prov],
    )


def cc_receivers(message: Resource) -> list[str]:
    """The receiver references (`Organization/<id>`) of the message's cc destinations, in order."""
    header = _header_of(message)
    found: list[str] = []
    for destination in header.get("destination") or ():
        uses = [
            ext.get("valueCoding", {}).get("code")
            for ext in destination.get("extension") or ()
            if ext.get("url") == medcom.DESTINATION_USE_EXTENSION
        ]
        if uses[:1] == ["cc"]:
            found.append(destination.get("receiver", {}).get("reference", ""))
    return found


def carbon_copy(original: Resource, *, new_id: IdFactory, now: datetime) -> Resource:
    """The cc receivers' own message: a copy of `original` as MedCom requires it (governance 040, scenario #3a).

    The copy is the original except for a new Bundle.id and Bundle.timestamp (`now`), a new MessageHeader.id,
    and one more Provenance on the stack: activity carboncopy-message, target the copy's MessageHeader, entity
    (role revision) the original's MessageHeader, agent the sender, occurred and recorded `now`. The MessageHeader
    keeps both destinations, so every receiver knows who was primary and who was cc. The hub delivers the original
    to its primary receiver and this copy to its cc receivers (hub.route.router). `original` is not changed.
    """
    if not cc_receivers(original):
        raise ValueError("the message has no cc destination: there is no one to send a copy to")
    source = _header_of(original)
    if _own_activity(original, source) == medcom.CARBON_COPY_ACTIVITY:
        raise ValueError("the message is itself a carbon copy; copy the original instead")
    message: Resource = copy.deepcopy(original)
    header = message["entry"][0]["resource"]
    header["id"] = new_id()
    message["entry"][0]["fullUrl"] = full_url(header)
    resources = [entry["resource"] for entry in message["entry"]]
    by_reference = {f"{r['resourceType']}/{r['id']}": r for r in resources}
    sender = by_reference.get(header.get("sender", {}).get("reference", ""))
    if sender is None:
        raise ValueError("MessageHeader.sender does not name an Organization entry of the message")
    own = _own_provenance(original, source)
    profile = (own or {}).get("meta", {}).get("profile", [medcom.MESSAGING_PROVENANCE_PROFILE])[0]
    stacked = provenance(
        resource_id=new_id(),
        header=header,
        activity=medcom.CARBON_COPY_ACTIVITY,
        agent=sender,
        now=now,
        profile=profile,
        entities=[revision_of(source["id"])],
    )
    return bundle(resource_id=new_id(), profile=message["meta"]["profile"][0], now=now, resources=[*resources, stacked])


def _header_of(message: Resource) -> Resource:
    entries = message.get("entry") or []
    header = entries[0].get("resource", {}) if entries else {}
    if header.get("resourceType") != "MessageHeader":
        raise ValueError("the first entry of a message Bundle is its MessageHeader")
    return header


def _own_provenance(message: Resource, header: Resource) -> Resource | None:
    """The Provenance whose target is the message's own MessageHeader (the newest of the stack)."""
    own = f"MessageHeader/{header.get('id')}"
    for entry in message.get("entry") or ():
        resource = entry.get("resource", {})
        if resource.get("resourceType") == "Provenance" and any(
            target.get("reference") == own for target in resource.get("target") or ()
        ):
            return resource  # type: ignore[no-any-return]
    return None


def _own_activity(message: Resource, header: Resource) -> str | None:
    own = _own_provenance(message, header)
    codings = (own or {}).get("activity", {}).get("coding") or [{}]
    code = codings[0].get("code")
    return code if isinstance(code, str) else None
