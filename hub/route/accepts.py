"""What a register entry accepts: message types (MedCom event codes), each in any version or only in named versions
of its MessageDefinition; and the pure decision whether a message's version is one a receiver takes.

MedCom registers senders and receivers "with that message type and version" (MedCom-FHIR-Communication,
030 Governance for Network Layer), and a message names its version in ``MessageHeader.definition``, a canonical
``<MessageDefinition url>|<version>`` (e.g. CareCommunication's ``...MedComCareCommunicationMessageDefinition|5.0``);
the network envelope's TypeVersion is that version suffix (EHMI SBDH). An entry of ``accepts`` is written as:

- ``care-communication-message``: the event code alone, any version (as before versions were named);
- ``care-communication-message|5.0``: event code and one version;
- ``{care-communication-message: ["5.0", "5.1"]}`` (or one version as a string): event code and its versions;
- ``http://medcomfhir.dk/ig/messagedefinitions/MessageDefinition/MedComCareCommunicationMessageDefinition|5.0``:
  the MessageDefinition's canonical URL with a version (without one: any version), for a MessageDefinition the
  hub knows (:data:`KNOWN_DEFINITIONS`);

and ``accepts`` may also be one mapping of event codes to their versions (null: any version). Versions are text
and compared exactly ("5.0" is not "5.0.1"); a YAML number is refused, since YAML reads 4.10 as 4.1.

The decision (:func:`version_refusal`): a message of an event the receiver takes in any version is taken; one
whose version is among the receiver's versions of that event is taken; any other is refused, and so is a message
that names no version (no ``MessageHeader.definition``, or one without ``|version``) to a receiver that names
versions: MedCom registers a receiver for a message type *and version*, and a message whose version cannot be read
cannot be shown to be one the receiver is registered for (nor enveloped with a TypeVersion).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from hub.domain import medcom, sektorhub

# The MessageDefinitions whose canonical URL an entry may name, by URL without version, with their event code:
# MedCom's (messagedefinitions 1.0.0; it has none for HospitalNotification, whose version is named as
# ``hospital-notification-message|<version>``) and the hub's own (schemas/sektorhub/MessageDefinition-*.json).
KNOWN_DEFINITIONS: Final[Mapping[str, str]] = {
    **medcom.MESSAGE_DEFINITION_EVENTS,
    f"{sektorhub.MESSAGE_DEFINITIONS}sektorhub-discharge-letter": sektorhub.DISCHARGE_LETTER_EVENT,
    f"{sektorhub.MESSAGE_DEFINITIONS}sektorhub-referral": sektorhub.REFERRAL_EVENT,
    f"{sektorhub.MESSAGE_DEFINITIONS}sektorhub-medication-update": sektorhub.MEDICATION_UPDATE_EVENT,
}

_EVENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]*$")


class AcceptsError(ValueError):
    """An entry of ``accepts`` cannot be used; the message names the entry and what is wrong with it."""


@dataclass(frozen=True, slots=True)
class VersionRestriction:
    """An event the receiver takes only in these versions of its MessageDefinition."""

    event: str
    versions: frozenset[str]


@dataclass(frozen=True, slots=True)
class Accepts:
    """``accepts`` as parsed: every event code taken, and the events taken only in named versions."""

    events: frozenset[str]
    restrictions: tuple[VersionRestriction, ...] = ()


def definition_version(definition: str | None) -> str | None:
    """The version a ``MessageHeader.definition`` canonical names (after its last ``|``), or None."""
    if not definition or "|" not in definition:
        return None
    version = definition.rsplit("|", 1)[1].strip()
    return version or None


def versions_text(versions: Iterable[str]) -> str:
    ordered = sorted(versions)
    return f"{'version' if len(ordered) == 1 else 'versions'} {', '.join(ordered)}"


def version_refusal(event: str, versions: frozenset[str] | None, definition: str | None) -> str | None:
    """Why a receiver that takes `event` only in `versions` (None: any version) does not take a message with this
    ``MessageHeader.definition``; None when it takes it."""
    if versions is None:
        return None
    version = definition_version(definition)
    if version is None:
        stated = "is missing" if not definition else f"{definition!r} names no |version"
        return (
            f"takes {event!r} only in {versions_text(versions)}, and the message names no version "
            f"(MessageHeader.definition {stated})"
        )
    if version in versions:
        return None
    return (
        f"does not take version {version} of {event!r} (MessageHeader.definition {definition!r}); "
        f"it takes {versions_text(versions)}"
    )


def _version(value: Any, where: str) -> str:
    if not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise AcceptsError(
                f"{where}: version {value!r} is a YAML number; write it as text ('{value}'), since YAML reads "
                "4.10 as 4.1"
            )
        raise AcceptsError(f"{where}: a version is text like '5.0', not {type(value).__name__} {value!r}")
    if not _VERSION.match(value):
        raise AcceptsError(f"{where}: version {value!r} is not a version (letters, digits and . + _ - only)")
    return value


def _event_of(name: str, where: str) -> str:
    """The event code an entry names: the code itself, or the event of a known MessageDefinition's URL."""
    if "://" in name:
        event = KNOWN_DEFINITIONS.get(name)
        if event is None:
            known = ", ".join(sorted(KNOWN_DEFINITIONS))
            raise AcceptsError(
                f"{where}: {name!r} is not a MessageDefinition the hub knows; write the event code and version "
                f"(<event code>|<version>) or one of {known}"
            )
        return event
    if not _EVENT.match(name):
        raise AcceptsError(f"{where}: {name!r} is not an event code (like care-communication-message)")
    return name


def _from_text(entry: str, where: str) -> tuple[str, frozenset[str] | None]:
    text = entry.strip()
    if "|" not in text:
        return _event_of(text, where), None
    name, _, version = text.rpartition("|")
    if not version.strip():
        raise AcceptsError(f"{where}: nothing after '|'; write <event code>|<version>, or the event code alone")
    return _event_of(name.strip(), where), frozenset({_version(version.strip(), where)})


def _from_mapping(name: Any, value: Any, where: str) -> tuple[str, frozenset[str] | None]:
    if not isinstance(name, str):
        raise AcceptsError(f"{where}: {name!r} is not an event code")
    if "|" in name:
        raise AcceptsError(f"{where}: name the versions either after '|' or as the value, not both")
    event = _event_of(name.strip(), where)
    if value is None:
        return event, None
    values = value if isinstance(value, list | tuple) else [value]
    if not values:
        raise AcceptsError(f"{where}: {name!r} names no version; leave the value out for any version")
    return event, frozenset(_version(v, where) for v in values)


def _entries(value: Any) -> list[tuple[str, tuple[str, frozenset[str] | None]]]:
    """(where, (event, versions or None)) for each entry of `value`, as written."""
    if isinstance(value, str):
        raise AcceptsError(f"accepts: {value!r} is one entry; write a list ([{value}])")
    if isinstance(value, Mapping):
        return [(f"accepts.{name}", _from_mapping(name, v, f"accepts.{name}")) for name, v in value.items()]
    if not isinstance(value, Iterable):
        raise AcceptsError(f"accepts: a list of event codes, not {type(value).__name__}")
    found = []
    for i, entry in enumerate(sorted(value, key=str) if isinstance(value, set | frozenset) else value):
        where = f"accepts[{i}] {entry!r}"
        if isinstance(entry, str):
            found.append((where, _from_text(entry, where)))
        elif isinstance(entry, Mapping) and entry:
            found.extend((where, _from_mapping(name, v, where)) for name, v in entry.items())
        else:
            raise AcceptsError(
                f"{where}: an entry is an event code, <event code>|<version> or {{event code: versions}}"
            )
    return found


def parse_accepts(value: Any) -> Accepts:
    """``accepts`` as written in the register (a list of entries, or a mapping of event codes to versions).

    An event named twice takes the union of its versions; one named both alone (any version) and with versions is
    refused, as it says two things."""
    any_version: dict[str, str] = {}
    versions: dict[str, set[str]] = {}
    restricted_at: dict[str, str] = {}
    for where, (event, named) in _entries(value):
        if named is None:
            any_version.setdefault(event, where)
        else:
            versions.setdefault(event, set()).update(named)
            restricted_at.setdefault(event, where)
        if event in any_version and event in versions:
            raise AcceptsError(
                f"{event!r} is named for any version ({any_version[event]}) and for "
                f"{versions_text(versions[event])} ({restricted_at[event]}); name it once"
            )
    return Accepts(
        events=frozenset(any_version) | frozenset(versions),
        restrictions=tuple(VersionRestriction(e, frozenset(v)) for e, v in sorted(versions.items())),
    )
