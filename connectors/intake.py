"""The one intake of the hub: how a message a connector received becomes a record on the ingress topic.

Every connector (HTTP ``$process-message``, MLLP, file drop, the Kafka-native producer helper) authenticates its
sender its own way, then hands the raw bytes here:

1. **check** (`check`, pure): the envelope (`hub.validate.envelope`: size, UTF-8, JSON, no key twice, a Bundle),
   then the sender: ``MessageHeader.sender`` must resolve to an Organization with exactly one SOR code, and that
   code must be the authenticated organisation's. FHIR XML (declared, or told by its first character) is
   checked as the JSON it converts to (`hub.fhirxml`), with the XML's line and column on its issues, and kept
   as it came;
2. **admit** (`Intake.admit`, I/O): refused while the hub is stopping; the message is kept in the archive *before*
   it is published (should the broker lose it, the hub publishes it again from there), then published to the
   ingress topic, and accepted only once the broker confirmed it.

The answer is an `Accepted` (with the record and so its tracking id) or a `Refused` with OperationOutcome issues
and a `Refusal` kind that each connector maps to its own answer:

- INVALID (not a FHIR Bundle in JSON or XML, or its sender cannot be told): HTTP 400; file drop: ``error/`` with the
  OperationOutcome; Kafka-native helper: ``MessageRefused`` (a ValueError) before sending; MLLP: AE 207 (the
  hub's own mapping made it, so it is the hub's fault);
- FORBIDDEN (``MessageHeader.sender`` is another organisation): HTTP 403; otherwise as INVALID;
- UNAVAILABLE (the hub is stopping, or the broker did not confirm; ``retry_after`` says when to try again):
  HTTP 503 with ``Retry-After``; MLLP AE "not accepted, resend"; file drop: the file stays in ``incoming/``;
- FAILED (anything else, such as an archive that did not keep the message; ``error`` is what was raised):
  HTTP 500, as any unexpected error; MLLP and file drop as UNAVAILABLE.

Kafka-native records that skip the helper are checked only by the ingress worker after the broker has them
(``hub.pipeline.plan``: an unknown sender is dead-lettered, a mismatch answered with a fatal-error
Acknowledgement); that is validation, not intake.

After UNAVAILABLE and FAILED nothing was accepted and the sender sends the message again; a copy the archive
already kept makes that resend harmless (the hub recognises it by its MessageHeader.id). Nothing is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final, Protocol

from aiokafka.errors import KafkaError

from hub.broker.records import Headers, IngressRecord
from hub.domain.ids import new_tracking_id
from hub.domain.message import MessageFacts, read_facts
from hub.domain.outcome import Issue, error
from hub.domain.tracking import utc_now
from hub.fhirxml.convert import json_text
from hub.fhirxml.located import located_in_xml, refusal_issue
from hub.fhirxml.media import MEDIA_TYPES, FhirFormat, format_of
from hub.fhirxml.reader import XmlRefused
from hub.observe.metrics import REFUSED, count_message
from hub.track.archive import ArchivedMessage
from hub.validate.envelope import read_envelope

PUBLISH_TIMEOUT_SECONDS: Final = 10.0  # a broker that does not confirm in time has not accepted the message
STOPPING_RETRY_AFTER: Final = 5  # seconds a sender waits before it sends again to a hub that is stopping
BROKER_RETRY_AFTER: Final = 2  # ... to a hub whose broker did not confirm
SENDER: Final = "Bundle.entry[0].resource.sender"

Publish = Callable[[IngressRecord], Awaitable[None]]
"""How a record reaches the broker: returns once the broker has stored it, else raises."""


class NotAccepting(RuntimeError):
    """The hub is shutting down and takes no new messages; the sender sends the message again later."""


class NotKept(RuntimeError):
    """The archive did not keep the message (the cause is chained), so it was not published."""


# what a `Publish` raises when the broker (or the hub) does not take a message now: the sender tries again
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (NotAccepting, TimeoutError, ConnectionError, KafkaError)


class Archive(Protocol):
    """Where accepted messages are kept before they are published (`hub.track.archive.MessageArchive`)."""

    async def keep(self, message: ArchivedMessage) -> None: ...


class Sender(Protocol):
    """The part of the hub's `hub.broker.clients.Publisher` a `Publish` uses."""

    async def send_and_wait(self, topic: str, *, key: bytes, value: bytes, headers: Headers | None = None) -> None: ...


class Refusal(StrEnum):
    INVALID = "invalid"  # not a FHIR Bundle in JSON or XML, or its sender cannot be told
    FORBIDDEN = "forbidden"  # MessageHeader.sender is not the authenticated organisation
    UNAVAILABLE = "unavailable"  # the hub is stopping, or the broker did not confirm: send again (Retry-After)
    FAILED = "failed"  # not taken for another reason (the archive failed, ...): send again


@dataclass(frozen=True, slots=True)
class Checked:
    """A message that passed the checks: what the record is made of."""

    raw: bytes
    sender_sor: str
    facts: MessageFacts
    content_type: str = ""  # the media type of raw when it is FHIR XML (IngressRecord.content_type)

    @property
    def key(self) -> bytes:
        return self.facts.partition_key.encode()


@dataclass(frozen=True, slots=True)
class Accepted:
    """Archived and on the ingress topic: the sender may be told so."""

    record: IngressRecord

    @property
    def tracking_id(self) -> str:
        return self.record.tracking_id


@dataclass(frozen=True, slots=True)
class Refused:
    """Not accepted: why (OperationOutcome issues), and what kind of refusal, for the connector's answer."""

    kind: Refusal
    issues: tuple[Issue, ...]
    retry_after: int | None = None  # seconds, for UNAVAILABLE
    error: Exception | None = None  # what the archive or the broker raised, for UNAVAILABLE and FAILED

    @property
    def retryable(self) -> bool:
        """True when the same message may be accepted when it is sent again."""
        return self.kind in (Refusal.UNAVAILABLE, Refusal.FAILED)

    @property
    def text(self) -> str:
        return "; ".join(issue.diagnostics for issue in self.issues)

    @property
    def error_name(self) -> str:
        return type(self.error).__name__ if self.error is not None else self.kind.value


def _invalid(code: str, diagnostics: str) -> Refused:
    return Refused(Refusal.INVALID, (error(code, SENDER, diagnostics),))


def check(
    raw: bytes,
    *,
    sender_sor: str,
    authenticated_as: str,
    max_bytes: int | None = None,
    content_type: str | None = None,
) -> Checked | Refused:
    """The envelope and the sender of one message (pure), in FHIR JSON or FHIR XML.

    `sender_sor` is the SOR code of the organisation the connector authenticated; `authenticated_as` says how, for
    the refusal when the message names another one (``"your token belongs to ..."``). `max_bytes` None: no limit.
    `content_type` is the declared one (else the format is told from the bytes, hub.fhirxml.media). XML is
    checked as the JSON it converts to, its issues placed at their line and column in the XML; the record
    keeps the XML as it came.
    """
    limit = len(raw) if max_bytes is None else max_bytes
    if format_of(raw, content_type) is FhirFormat.JSON:
        return _check(raw, sender_sor=sender_sor, authenticated_as=authenticated_as, max_bytes=limit)
    if len(raw) > limit:
        return Refused(
            Refusal.INVALID, (error("too-costly", None, f"the message is {len(raw)} bytes; the limit is {limit}"),)
        )
    try:
        text = json_text(raw, content_type)
    except XmlRefused as exc:
        return Refused(Refusal.INVALID, (refusal_issue(exc),))
    checked = _check(text, sender_sor=sender_sor, authenticated_as=authenticated_as, max_bytes=max(limit, len(text)))
    if isinstance(checked, Refused):
        return replace(checked, issues=located_in_xml(raw, checked.issues))
    return replace(checked, raw=raw, content_type=MEDIA_TYPES[FhirFormat.XML])


def _check(raw: bytes, *, sender_sor: str, authenticated_as: str, max_bytes: int) -> Checked | Refused:
    """`check` of FHIR JSON."""
    envelope = read_envelope(raw, max_bytes=max_bytes)
    if not envelope.ok or envelope.document is None:
        issues = envelope.issues or (error("invalid", None, "the message is not a FHIR JSON Bundle"),)
        return Refused(Refusal.INVALID, tuple(issues))
    facts = read_facts(envelope.document)  # the very document the envelope checked (no key given twice)
    if facts.sender is not None and facts.sender.several_sor:
        return _invalid(
            "structure",
            "the sender Organization has more than one SOR identifier; MedCom allows one, and with more it cannot"
            " be told which organisation sends the message",
        )
    named = facts.sender.sor if facts.sender else None
    if named is None:
        return _invalid(
            "required",
            "the first entry must be a MessageHeader whose sender resolves to an Organization with a SOR identifier",
        )
    if named != sender_sor:
        return Refused(
            Refusal.FORBIDDEN,
            (error("security", SENDER, f"MessageHeader.sender has SOR code {named}; {authenticated_as}"),),
        )
    return Checked(raw, sender_sor, facts)


def make_record(
    checked: Checked,
    *,
    connector: str,
    tracking_id: str | None = None,
    new_id: Callable[[], str] = new_tracking_id,
    clock: Callable[[], str] = utc_now,
) -> IngressRecord:
    """The ingress record of a checked message: keyed by patient (else message), stamped now."""
    return IngressRecord(
        tracking_id=tracking_id or new_id(),
        sender_sor=checked.sender_sor,
        received_at=clock(),
        connector=connector,
        raw=checked.raw,
        key=checked.key,
        content_type=checked.content_type,
    )


def not_published(exc: Exception) -> Refused:
    """The refusal for what `Intake.publish` raised (pure)."""
    if isinstance(exc, NotAccepting):
        issue = error("transient", None, "the hub is shutting down; send the message again")
        return Refused(Refusal.UNAVAILABLE, (issue,), retry_after=STOPPING_RETRY_AFTER, error=exc)
    if isinstance(exc, NotKept):
        cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
        issue = error("exception", None, f"the hub could not keep the message ({type(cause).__name__}); send it again")
        return Refused(Refusal.FAILED, (issue,), error=cause)
    if isinstance(exc, TRANSIENT_ERRORS):
        issue = error(
            "transient", None, f"the message broker did not confirm the message ({type(exc).__name__}); send it again"
        )
        return Refused(Refusal.UNAVAILABLE, (issue,), retry_after=BROKER_RETRY_AFTER, error=exc)
    issue = error("exception", None, f"the hub could not publish the message ({type(exc).__name__}); send it again")
    return Refused(Refusal.FAILED, (issue,), error=exc)


def to_topic(publisher: Sender, topic: str, *, timeout: float | None = PUBLISH_TIMEOUT_SECONDS) -> Publish:
    """A `Publish` onto `topic` that returns once the broker acknowledged; TimeoutError after `timeout` seconds."""

    async def publish(record: IngressRecord) -> None:
        sending = publisher.send_and_wait(topic, key=record.key, value=record.raw, headers=record.headers())
        if timeout is None:
            await sending
        else:
            await asyncio.wait_for(sending, timeout)

    return publish


def archived(record: IngressRecord) -> ArchivedMessage:
    return ArchivedMessage(
        record.tracking_id, record.sender_sor, record.connector, record.received_at, record.key, record.raw
    )


class Intake:
    """Checks, archives and publishes messages for the connectors (see the module docstring).

    `publish` puts a record on the ingress topic (`to_topic`); `archive` keeps it first; `accepting` tells whether
    the hub still takes messages (False while it stops). `new_id` and `clock` make tracking ids and timestamps.
    """

    def __init__(
        self,
        publish: Publish,
        *,
        archive: Archive | None = None,
        accepting: Callable[[], bool] | None = None,
        new_id: Callable[[], str] = new_tracking_id,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        self._publish = publish
        self._archive = archive
        self._accepting = accepting
        self._new_id = new_id
        self._clock = clock

    async def take(
        self,
        raw: bytes,
        *,
        sender_sor: str,
        authenticated_as: str,
        connector: str,
        max_bytes: int | None = None,
        content_type: str | None = None,
    ) -> Accepted | Refused:
        """Check the message (FHIR JSON or, declared or told by its bytes, FHIR XML), then admit it (`check`,
        `admit`)."""
        checked = check(
            raw,
            sender_sor=sender_sor,
            authenticated_as=authenticated_as,
            max_bytes=max_bytes,
            content_type=content_type,
        )
        if isinstance(checked, Refused):
            count_message(connector, REFUSED)
            return checked
        return await self.admit(checked, connector=connector)

    async def admit(self, checked: Checked, *, connector: str) -> Accepted | Refused:
        """Archive and publish a checked message; accepted once the broker has it."""
        record = make_record(checked, connector=connector, new_id=self._new_id, clock=self._clock)
        try:
            await self.publish(record)
        except Exception as exc:  # not accepted: the sender sends it again (asyncio.CancelledError passes)
            count_message(connector, REFUSED)
            return not_published(exc)
        return Accepted(record)  # counted once validated, by the ingress worker (hub.observe.metrics)

    async def publish(self, record: IngressRecord) -> None:
        """Keep `record` in the archive, then publish it and wait for the broker.

        Raises `NotAccepting` while the hub stops, `NotKept` when the archive fails (then nothing is published),
        else whatever publishing raised (TimeoutError when the broker does not confirm in time).
        """
        if self._accepting is not None and not self._accepting():
            raise NotAccepting("the hub is shutting down; send the message again")
        if self._archive is not None:
            # kept before it is published: if the broker loses it, the hub publishes it again from here
            try:
                await self._archive.keep(archived(record))
            except Exception as exc:
                raise NotKept(f"the archive did not keep the message ({type(exc).__name__})") from exc
        await self._publish(record)


def ingress_publisher(
    publisher: Sender,
    topic: str,
    *,
    archive: Archive | None = None,
    timeout: float | None = PUBLISH_TIMEOUT_SECONDS,
    accepting: Callable[[], bool] | None = None,
) -> Publish:
    """A `Publish` with the intake's guarantees: refused while the hub stops, archived first, then published.

    Whatever it raises (see `Intake.publish`), the message was not accepted and its sender must send it again.
    """
    return Intake(to_topic(publisher, topic, timeout=timeout), archive=archive, accepting=accepting).publish
