"""A simulated hospital: keeps sending realistic notifications and correspondence through the hub's ingest."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import structlog

from hub.route.register import Organisation, OrganisationKind, Register
from hub.simulate.generator import MessageGenerator

log = structlog.get_logger(__name__)


class SimulatedHospitals:
    def __init__(
        self,
        *,
        register: Register,
        hub_url: str,
        tokens: Mapping[str, str],
        seed: int | None = None,
        patients: int = 200,
    ) -> None:
        self._register = register
        self._hub_url = hub_url.rstrip("/")
        self._tokens = dict(tokens)
        self._rng = random.Random(seed)
        self._generator = MessageGenerator(seed)
        self._patients = [self._generator.fictional_cpr() for _ in range(patients)]
        self._client = httpx.AsyncClient(timeout=30.0)
        self.sent = 0
        self.refused = 0

    def _of_kind(self, kind: OrganisationKind, accepting: str) -> list[Organisation]:
        return [o for o in self._register.organisations if o.kind is kind and accepting in o.accepts]

    def next_message(self) -> tuple[Organisation, dict[str, Any]]:
        hospitals = [
            o for o in self._register.organisations if o.kind is OrganisationKind.HOSPITAL and o.id in self._tokens
        ]
        hospital = self._rng.choice(hospitals)
        now = datetime.now(UTC)
        patient = self._rng.choice(self._patients)
        if self._rng.random() < 0.7:
            municipality = self._rng.choice(
                self._of_kind(OrganisationKind.MUNICIPALITY, "hospital-notification-message")
            )
            message = self._generator.hospital_notification(
                sender=hospital.ref, receiver=municipality.ref, patient_cpr=patient, now=now
            )
        else:
            receivers = self._of_kind(OrganisationKind.GP, "care-communication-message") + self._of_kind(
                OrganisationKind.MUNICIPALITY, "care-communication-message"
            )
            message = self._generator.care_communication(
                sender=hospital.ref,
                receiver=self._rng.choice(receivers).ref,
                patient_cpr=patient,
                with_attachment=self._rng.random() < 0.2,
                now=now,
            )
        return hospital, message

    async def send_one(self) -> httpx.Response:
        hospital, message = self.next_message()
        response = await self._client.post(
            f"{self._hub_url}/fhir/$process-message",
            content=orjson.dumps(message),
            headers={"Content-Type": "application/fhir+json", "Authorization": f"Bearer {self._tokens[hospital.id]}"},
        )
        if response.status_code == 202:
            self.sent += 1
        else:
            self.refused += 1
            log.warning("simulated hospital's message refused", status=response.status_code)
        return response

    async def run(self, *, rate: float) -> None:
        interval = 1.0 / rate if rate > 0 else 1.0
        while True:
            try:
                await self.send_one()
            except httpx.HTTPError as exc:
                log.warning("simulated hospital cannot reach the hub", error=type(exc).__name__)
            await asyncio.sleep(self._rng.uniform(0.5 * interval, 1.5 * interval))

    async def close(self) -> None:
        await self._client.aclose()
