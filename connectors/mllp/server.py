"""The MLLP connector: HL7 v2 ADT messages over TCP in, MedCom HospitalNotifications onto the ingress topic.

Each connection is served in order, one message at a time (HL7 "original mode" acknowledgements):

1. the frame is decoded (`framing`), its text read in the charset MSH-18 declares (`mappings.hl7v2.parse`);
2. the sending facility (MSH-4: a SOR code, or an HL7 facility code a register entry lists) must be an
   organisation the register knows, else **AR**:
   the connection carries no other credential, so the hub's network policy (firewall, VPN, mTLS
   terminator in front of the port) must admit only the hospitals' integration engines;
3. the message is mapped (`mappings.hl7v2.adt_to_notification.map_adt`). An unsupported message type or
   trigger gets **AR**; a message that cannot be mapped (its municipality of residence cannot be found, ...)
   gets **AE**, with every reason in MSA-3 and one ERR segment each; a message MedCom sends no notification
   for (an outpatient visit, a transfer within the hospital, a planned stay, a patient without a CPR number or
   living abroad) gets **AA** with the reason in MSA-3, and nothing is published. The full table of answers:
   docs/contracts/connector-mllp.md;
4. the Bundle goes through the hub's intake (`connectors.intake`: checked like any message, archived, published
   as an `IngressRecord` with connector ``mllp``, the sender's SOR code, key = CPR)
   and only **after the broker has stored it** the answer is **AA** (MSA-3 names the tracking id). If
   publishing fails the answer is **AR** "not accepted, resend" (HL7 table 0008: failed for a reason unrelated
   to the message's content or format): the sender keeps the message and sends it
   again; nothing is lost.

A message sent again (same MSH-10, same content) maps to the same MessageHeader.id, so the hub treats it as a
resend, not as a new notification. A frame larger than `max_frame_bytes` gets AR without being read into
memory. On shutdown (`stop`, or the `stop` event of `run`) the listener stops accepting connections, closes
idle ones at once and gives a message being answered `grace_seconds` to finish.

The answer is an HL7 v2 ACK: MSH with sending and receiving application and facility swapped, MSA (code,
the original MSH-10, text) and, for AE and AR, ERR segments (ERR-2 location, ERR-3 HL7 table 0357 code,
ERR-4 severity, ERR-8 the reason).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import orjson
import structlog

from connectors.intake import Intake, Refusal, Refused
from connectors.mllp.framing import DEFAULT_MAX_FRAME_BYTES, Frame, MllpDecoder, Oversized, encode_frame
from hub.domain.hl7v2 import (
    APPLICATION_ACCEPT,
    APPLICATION_ERROR,
    APPLICATION_INTERNAL_ERROR,
    APPLICATION_REJECT,
    DATA_TYPE_ERROR,
    ERROR_CONDITIONS,
)
from hub.messages import builder
from hub.route.register import Organisation
from mappings.hl7v2.addressing import Directory, Finding, SorDirectory, sending_facility
from mappings.hl7v2.adt_to_notification import (
    DANISH_TIME,
    Problem,
    map_adt,
)
from mappings.hl7v2.parse import (
    CHARSETS,
    DEFAULT_CHARSET,
    STANDARD_DELIMITERS,
    Hl7ParseError,
    Message,
    decode_message,
    escape,
    parse_message,
    split_segments,
)

log = structlog.get_logger(__name__)

SenderLookup = Callable[[str], Organisation | None]

HUB_APPLICATION: Final = "SEKTORHUB"
DEFAULT_VERSION: Final = "2.5"


def danish_now() -> datetime:
    return datetime.now(DANISH_TIME)


@dataclass(frozen=True, slots=True)
class Answer:
    """What the listener answers one message with, and what it did."""

    code: str  # AA | AE | AR
    control_id: str  # the original MSH-10 ("" when unreadable)
    text: str  # MSA-3
    problems: tuple[Problem, ...] = ()
    tracking_id: str | None = None  # set when a record was published
    notification: str | None = None  # STIN, AN_STIN, ... when one was published


def _location(problem: Problem) -> str:
    """ERR-2 (ERL) of a problem: ``PID-3`` -> ``PID^1^3``; ``PID-5.2`` -> ``PID^1^5^1^2``."""
    if not problem.location:
        return ""
    segment, _, position = problem.location.partition("-")
    parts = [segment, "1"]
    if position:
        fieldno, _, component = position.partition(".")
        parts.append(fieldno)
        if component:
            parts.extend(["1", component])
    return "^".join(parts)


def _hd(message: Message | None, number: int) -> str:
    """A HD field (application, facility) of the original MSH, re-escaped for the ACK's delimiters."""
    if message is None:
        return ""
    repetitions = message.msh.repetitions(number)
    if not repetitions:
        return ""
    components = [escape(sub[0], STANDARD_DELIMITERS) if sub else "" for sub in repetitions[0]]
    return "^".join(components).rstrip("^")


def build_ack(
    original: Message | None,
    *,
    code: str,
    text: str = "",
    problems: Sequence[Problem] = (),
    now: datetime,
    control_id: str | None = None,
    ack_control_id: str | None = None,
) -> str:
    """An HL7 v2 ACK for `original` (None when even its MSH could not be read): MSH, MSA, ERR per problem.

    Segments end with ``\\r``. `control_id` overrides the MSA-2 taken from the original's MSH-10.
    """
    d = STANDARD_DELIMITERS
    original_control_id = control_id if control_id is not None else (original.control_id if original else "")
    trigger = original.message_type[1] if original is not None else ""
    version = (original.msh.value(12) if original is not None else "") or DEFAULT_VERSION
    processing = (original.msh.value(11) if original is not None else "") or "P"
    charset = original.msh.value(18) if original is not None else ""
    msh = [
        "MSH",
        d.encoding_characters,
        _hd(original, 5) or HUB_APPLICATION,  # MSH-3: who answers: the application the message was sent to
        _hd(original, 6),  # MSH-4
        _hd(original, 3),  # MSH-5: the sender of the original
        _hd(original, 4),  # MSH-6
        now.strftime("%Y%m%d%H%M%S%z"),  # MSH-7
        "",  # MSH-8
        f"ACK^{escape(trigger)}^ACK" if trigger else "ACK",  # MSH-9
        escape(ack_control_id or uuid.uuid4().hex[:20]),  # MSH-10
        escape(processing),  # MSH-11
        escape(version),  # MSH-12
    ]
    if charset:
        msh += ["", "", "", "", "", escape(charset)]  # MSH-13 .. MSH-18
    segments = [d.field.join(msh), d.field.join(["MSA", code, escape(original_control_id), escape(text)])]
    severity = "E" if code != APPLICATION_ACCEPT else "I"
    for problem in problems:
        condition = ERROR_CONDITIONS.get(problem.code, "")
        segments.append(
            d.field.join(
                [
                    "ERR",
                    "",  # ERR-1 (before v2.5)
                    _location(problem),  # ERR-2
                    f"{problem.code}^{condition}^HL70357",  # ERR-3
                    severity,  # ERR-4
                    "",  # ERR-5
                    "",  # ERR-6
                    "",  # ERR-7
                    escape(str(problem)),  # ERR-8: the reason, for people
                ]
            )
        )
    return "\r".join(segments) + "\r"


def _header(text: str) -> Message | None:
    """The original's MSH alone, to address an answer to a message that does not parse as a whole."""
    lines = split_segments(text)
    if not lines:
        return None
    try:
        return parse_message(lines[0])
    except Hl7ParseError:
        return None


def _codec(original: Message | None) -> str:
    declared = original.msh.value(18).upper() if original is not None else ""
    return CHARSETS.get(declared, DEFAULT_CHARSET)


class MllpListener:
    """An asyncio MLLP server that maps ADT messages and publishes them to the ingress topic.

    `intake` checks, archives and publishes the mapped Bundles (`connectors.intake`). `directory` is what the hub's
    registers know (`connectors.mllp.directory.RegisterDirectory`: organisations with their HL7 facility codes,
    municipalities, the patient register); the sender must be known. `sender_for` (a lookup by SOR code alone)
    stands in for it where MSH-4 and MSH-6 carry SOR codes.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 2575,
        sender_for: SenderLookup | None = None,
        directory: Directory | None = None,
        intake: Intake,
        now: Callable[[], datetime] = danish_now,
        new_id: builder.IdFactory = builder.random_id,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        read_size: int = 64 * 1024,
        grace_seconds: float = 5.0,
    ) -> None:
        self.host = host
        self._port = port
        self._intake = intake
        if directory is None:
            if sender_for is None:
                raise ValueError("an MLLP listener needs a directory (or a sender_for lookup by SOR code)")
            lookup = sender_for
            directory = SorDirectory(lambda sor: found.ref if (found := lookup(sor)) is not None else None)
        self._directory: Directory = directory
        self._now = now
        self._new_id = new_id
        self.max_frame_bytes = max_frame_bytes
        self._read_size = read_size
        self.grace_seconds = grace_seconds
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.Task[None]] = set()  # connections answering a message right now
        self._closing = False

    @property
    def port(self) -> int:
        """The port listened on (the one the OS chose, when constructed with port 0)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self._port)
        log.info("mllp listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        """Stop listening; a message being answered gets `grace_seconds` to finish, then connections close.

        A message that was not answered is sent again by its sender (an interrupted publish may have reached the
        broker: the resend has the same MessageHeader.id, and the hub treats it as a resend).
        """
        if self._server is None:
            return
        self._server.close()
        self._closing = True
        for task in self._connections - self._busy:
            task.cancel()  # idle: waiting for the next message
        busy = list(self._busy)
        if busy:
            await asyncio.wait(busy, timeout=self.grace_seconds)
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        self._closing = False
        log.info("mllp stopped")

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Listen until `stop` is set or the task is cancelled (a worker task for the hub's lifespan)."""
        await self.start()
        try:
            await (stop or asyncio.Event()).wait()
        finally:
            await self.stop()

    async def __aenter__(self) -> MllpListener:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        peer = writer.get_extra_info("peername")
        log.info("mllp connection", peer=str(peer))
        decoder = MllpDecoder(max_frame_bytes=self.max_frame_bytes)
        try:
            while True:
                chunk = await reader.read(self._read_size)
                if not chunk:
                    break
                for item in decoder.feed(chunk):
                    if self._closing:
                        break
                    if task is not None:
                        self._busy.add(task)
                    try:
                        writer.write(encode_frame(await self.answer_frame(item)))
                        await writer.drain()
                    finally:
                        if task is not None:
                            self._busy.discard(task)
                if self._closing:
                    break
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("mllp connection lost", peer=str(peer), error=type(exc).__name__)
        except asyncio.CancelledError:
            # only `stop` cancels a connection; a message not yet answered is sent again by its sender. The task
            # ends normally: asyncio's stream server logs an error for a cancelled connection task (Python 3.11).
            log.info("mllp connection closed by the hub", peer=str(peer))
        finally:
            if decoder.discarded:
                log.warning("mllp bytes outside frames were skipped", peer=str(peer), discarded=decoder.discarded)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
            if task is not None:
                self._connections.discard(task)

    async def answer_frame(self, item: Frame | Oversized) -> bytes:
        """The ACK bytes for one received frame (publishing its message first, when it maps)."""
        if isinstance(item, Oversized):
            original = _header(item.head.decode("latin-1"))
            problem = Problem(
                None,
                f"the message is {item.size} bytes, larger than the limit of {self.max_frame_bytes} bytes",
                APPLICATION_INTERNAL_ERROR,
            )
            answer = Answer(APPLICATION_REJECT, original.control_id if original else "", problem.text, (problem,))
            self._log(answer, original)
            return self._ack(original, answer)
        try:
            text = decode_message(item.payload)
        except Hl7ParseError as exc:
            original = _header(item.payload.decode("latin-1"))
            problem = Problem(None, str(exc), DATA_TYPE_ERROR)
            answer = Answer(APPLICATION_ERROR, original.control_id if original else "", str(exc), (problem,))
            self._log(answer, original)
            return self._ack(original, answer)
        original = _header(text)
        answer = await self.handle(text, original)
        self._log(answer, original)
        return self._ack(original, answer)

    async def handle(self, text: str, original: Message | None = None) -> Answer:
        """Check, map and publish one message; the answer to give."""
        original = original if original is not None else _header(text)
        control_id = original.control_id if original is not None else ""
        if original is not None:  # without a readable MSH the mapping reports why
            sender = sending_facility(original.msh, self._directory)
            if isinstance(sender, Finding):  # the connection's only credential: an unknown sender is refused
                problem = Problem(sender.location, sender.text, sender.code)
                return Answer(APPLICATION_REJECT, control_id, str(problem), (problem,))
        result = map_adt(text, now=self._now(), new_id=self._new_id, directory=self._directory)
        if result.problems:
            code = APPLICATION_REJECT if result.unsupported else APPLICATION_ERROR
            return Answer(code, result.control_id or control_id, "; ".join(result.errors), result.problems)
        if result.bundle is None or result.sender_sor is None or result.patient_cpr is None:
            return Answer(APPLICATION_ACCEPT, result.control_id, f"accepted; no MedCom notification: {result.skipped}")
        taken = await self._intake.take(
            orjson.dumps(result.bundle),
            sender_sor=result.sender_sor,
            authenticated_as=f"the sending facility (MSH-4) is registered to SOR {result.sender_sor}",
            connector="mllp",
        )
        if isinstance(taken, Refused):
            return self._not_taken(taken, result.control_id)
        return Answer(
            APPLICATION_ACCEPT,
            result.control_id,
            f"accepted as {result.notification}; tracking id {taken.tracking_id}",
            tracking_id=taken.tracking_id,
            notification=result.notification,
        )

    @staticmethod
    def _not_taken(refused: Refused, control_id: str) -> Answer:
        """AR for a mapped message the intake did not take: the hub failed for a reason unrelated to the message's
        content or format (HL7 table 0008: AR, "the original message sender must decide on whether to automatically
        send message again"); "resend" when sending it again may succeed."""
        if refused.retryable:
            if refused.kind is Refusal.UNAVAILABLE:
                log.warning(
                    "mllp publish failed; the sender is asked to resend",
                    control_id=control_id,
                    error=repr(refused.error),
                )
            else:
                log.error(
                    "mllp publish failed; the sender is asked to resend", control_id=control_id, exc_info=refused.error
                )
            text = f"not accepted, resend: the hub could not store the message ({refused.error_name})"
        else:  # the hub's own mapping made a message its intake refuses: the hub's fault, not the sender's
            log.error("mllp mapped message refused by the intake", control_id=control_id, reasons=refused.text)
            text = f"not accepted: the hub mapped the message to one it cannot take: {refused.text}"
        problem = Problem(None, text, APPLICATION_INTERNAL_ERROR)
        return Answer(APPLICATION_REJECT, control_id, problem.text, (problem,))

    def _ack(self, original: Message | None, answer: Answer) -> bytes:
        ack = build_ack(
            original,
            code=answer.code,
            text=answer.text,
            problems=answer.problems,
            now=self._now(),
            control_id=answer.control_id,
        )
        return ack.encode(_codec(original), errors="replace")

    def _log(self, answer: Answer, original: Message | None) -> None:
        log.info(
            "mllp message answered",
            ack=answer.code,
            control_id=answer.control_id,
            trigger=original.message_type[1] if original is not None else None,
            sending_facility=original.msh.value(4) if original is not None else None,
            notification=answer.notification,
            tracking_id=answer.tracking_id,
            reason=answer.text if answer.code != APPLICATION_ACCEPT or answer.tracking_id is None else None,
        )
