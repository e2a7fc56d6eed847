"""Simulated receiving systems: real HTTP servers on loopback that answer every message with a MedCom
Acknowledgement (through the hub's ingest, with their own token), and pollers for mailbox receivers. A receiver
whose register entry asks for FHIR XML reads the XML it is sent and answers in XML.

Used by ``hub demo`` and by the tests, which read what each organisation received from ``received``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import structlog
from aiohttp import web

from hub.domain.message import MessageFacts, read_facts
from hub.fhirxml.convert import document_of
from hub.fhirxml.media import MEDIA_TYPES, FhirFormat
from hub.fhirxml.writer import write_xml
from hub.messages.acknowledgement import build_acknowledgement
from hub.route.register import EndpointKind, Organisation, Register

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Reply:
    """How a simulated system answers one message."""

    status: int = 200
    delay: float = 0.0  # seconds before answering (a slow or hanging system)
    retry_after: float | None = None
    acknowledge: bool = True  # send a MedCom Acknowledgement afterwards


# receiver id, facts of the incoming message -> how the simulated system answers
Behaviour = Callable[[str, MessageFacts], Reply]


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    receiver: str
    facts: MessageFacts
    raw: bytes
    idempotency_key: str | None
    tracking_id: str | None
    via: str  # http | mailbox | rest-hook
    at: float = field(default_factory=time.monotonic)
    content_type: str | None = None  # the Content-Type it came with (http)


class SimulatedReceivers:
    def __init__(
        self,
        *,
        register: Register,
        hub_url: str,
        tokens: Mapping[str, str],
        acknowledge: bool = True,
        behaviour: Behaviour | None = None,
    ) -> None:
        self._register = register
        self.hub_url = hub_url.rstrip("/")
        self._tokens = dict(tokens)
        self._acknowledge = acknowledge
        self.behaviour = behaviour
        self.received: dict[str, list[ReceivedMessage]] = {}
        # receiver -> the subscription notifications its rest-hook endpoint was sent (handshakes, heartbeats, events)
        self.notifications: dict[str, list[dict[str, Any]]] = {}
        # receiver -> (acknowledged message id, when the hub accepted the acknowledgement)
        self.acknowledgements_sent: dict[str, list[tuple[str, float]]] = {}
        self._client = httpx.AsyncClient(timeout=30.0)
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.base_url = ""

    # --- HTTP push receivers -------------------------------------------------------------------------

    async def start(self, *, port: int = 0) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/receivers/{receiver}", self._receive)
        app.router.add_post("/notifications/{receiver}", self._notified)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        bound = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{bound}"
        return self.base_url

    async def _receive(self, request: web.Request) -> web.Response:
        receiver_id = request.match_info["receiver"]
        raw = await request.read()
        facts = read_facts(document_of(raw))  # FHIR JSON, or FHIR XML for a receiver that takes XML
        reply = self.behaviour(receiver_id, facts) if self.behaviour else Reply()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status >= 300:
            headers = {"Retry-After": f"{reply.retry_after:g}"} if reply.retry_after is not None else {}
            return web.Response(status=reply.status, text="simulated refusal", headers=headers)
        self._note(
            ReceivedMessage(
                receiver_id,
                facts,
                raw,
                request.headers.get("Idempotency-Key"),
                request.headers.get("X-Hub-Tracking-Id"),
                "http",
                content_type=request.headers.get("Content-Type"),
            )
        )
        if reply.acknowledge:
            self._answer_later(receiver_id, facts)
        return web.Response(status=reply.status, text="ok")

    def notification_url(self, receiver_id: str) -> str:
        """The receiver's rest-hook endpoint: subscription notifications, the messages inside taken as received."""
        return f"{self.base_url}/notifications/{receiver_id}"

    async def _notified(self, request: web.Request) -> web.Response:
        """A subscription notification: kept; each MedCom message it carries in full (content full-resource) is
        received and acknowledged as if pushed to the register's endpoint."""
        receiver_id = request.match_info["receiver"]
        bundle = orjson.loads(await request.read())
        self.notifications.setdefault(receiver_id, []).append(bundle)
        for entry in bundle.get("entry", [])[1:]:
            message = entry.get("resource")
            if not isinstance(message, dict) or message.get("resourceType") != "Bundle":
                continue
            facts = read_facts(message)
            self._note(ReceivedMessage(receiver_id, facts, orjson.dumps(message), None, None, "rest-hook"))
            self._answer_later(receiver_id, facts)
        return web.Response(status=200, text="ok")

    def _note(self, message: ReceivedMessage) -> None:
        self.received.setdefault(message.receiver, []).append(message)

    def _answer_later(self, receiver_id: str, facts: MessageFacts) -> None:
        if not self._acknowledge or facts.is_acknowledgement:
            return  # acknowledgements are never acknowledged
        task = asyncio.create_task(self._acknowledge_message(receiver_id, facts))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _acknowledge_message(self, receiver_id: str, facts: MessageFacts) -> None:
        organisation = self._register.by_id(receiver_id)
        token = self._tokens.get(receiver_id)
        if organisation is None or token is None or facts.sender is None or not facts.message_id:
            log.warning("simulated receiver cannot acknowledge", receiver=receiver_id)
            return
        acknowledgement = build_acknowledgement(
            original=facts, responder=organisation.ref, recipient=facts.sender, code="ok", now=datetime.now(UTC)
        )
        wanted = organisation.endpoint.format  # a system that takes XML answers in XML
        body = write_xml(acknowledgement) if wanted is FhirFormat.XML else orjson.dumps(acknowledgement)
        for attempt in range(200):  # a real system keeps trying for minutes
            try:
                response = await self._client.post(
                    f"{self.hub_url}/fhir/$process-message",
                    content=body,
                    headers={"Content-Type": MEDIA_TYPES[wanted], "Authorization": f"Bearer {token}"},
                )
            except httpx.TransportError:
                await asyncio.sleep(min(0.25 * (attempt + 1), 2.0))  # the hub may be restarting
                continue
            if response.status_code == 503:
                await asyncio.sleep(0.5)
                continue
            if response.status_code == 202:
                self.acknowledgements_sent.setdefault(receiver_id, []).append((facts.message_id, time.monotonic()))
                return
            log.warning("acknowledgement refused", receiver=receiver_id, status=response.status_code)
            return

    # --- mailbox receivers ---------------------------------------------------------------------------

    def mailbox_receivers(self) -> list[Organisation]:
        return [
            o for o in self._register.organisations if o.endpoint.kind is EndpointKind.MAILBOX and o.id in self._tokens
        ]

    async def poll_mailboxes_once(self) -> int:
        """Fetch, confirm and acknowledge what waits in each simulated mailbox; returns how many were taken."""
        taken = 0
        for organisation in self.mailbox_receivers():
            headers = {"Authorization": f"Bearer {self._tokens[organisation.id]}"}
            response = await self._client.get(f"{self.hub_url}/mailbox", headers=headers)
            response.raise_for_status()
            for item in response.json()["items"]:
                raw = base64.b64decode(item["message_base64"])
                facts = read_facts(document_of(raw))
                self._note(
                    ReceivedMessage(organisation.id, facts, raw, item["message_id"], item["tracking_id"], "mailbox")
                )
                confirm = await self._client.post(f"{self.hub_url}/mailbox/{item['id']}/ack", headers=headers)
                confirm.raise_for_status()
                self._answer_later(organisation.id, facts)
                taken += 1
        return taken

    async def poll_mailboxes_forever(self, *, interval: float = 1.0) -> None:
        while True:
            try:
                await self.poll_mailboxes_once()
            except httpx.HTTPError as exc:
                log.warning("mailbox poll failed", error=type(exc).__name__)
            await asyncio.sleep(interval)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._runner is not None:
            await self._runner.cleanup()
        await self._client.aclose()
