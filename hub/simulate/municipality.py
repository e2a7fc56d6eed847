"""A simulated municipal acute care team: sends HomeCareObservations (home test results) to the patients' GPs.

For the demo: each message is about a patient of the demo's patient register who lives in one of the register's
municipalities and is listed with a GP that accepts HomeCareObservation; the municipality sends it over
`$process-message` with its own token, addressed to that GP (the MessageDefinition's only receiver).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import structlog

from hub.domain.homecare import HOMECARE_OBSERVATION_EVENT
from hub.route.patients import PatientEntry, normalise_municipality_code
from hub.route.register import Organisation, OrganisationKind, Register
from hub.simulate.generator import MessageGenerator
from hub.simulate.pacing import send_at_rate

log = structlog.get_logger(__name__)


def homecare_pairs(
    register: Register, patients: Iterable[PatientEntry], tokens: Mapping[str, str]
) -> list[tuple[Organisation, Organisation, str]]:
    """(municipality, GP, CPR) for each patient whose municipality can send (has a token) and whose GP accepts
    HomeCareObservation."""
    by_code = {
        normalise_municipality_code(o.municipality_code): o
        for o in register.organisations
        if o.kind is OrganisationKind.MUNICIPALITY and o.municipality_code and o.id in tokens
    }
    by_id = {o.id: o for o in register.organisations}
    pairs = []
    for entry in patients:
        municipality = by_code.get(normalise_municipality_code(entry.municipality_code or ""))
        gp = by_id.get(entry.gp or "")
        if municipality is not None and gp is not None and HOMECARE_OBSERVATION_EVENT in gp.accepts:
            pairs.append((municipality, gp, entry.cpr))
    return pairs


class SimulatedMunicipalities:
    """Municipalities' acute care teams sending HomeCareObservations to the hub over HTTP."""

    def __init__(
        self,
        *,
        register: Register,
        patients: Iterable[PatientEntry],
        hub_url: str,
        tokens: Mapping[str, str],
        seed: int | None = None,
    ) -> None:
        self._tokens = dict(tokens)
        self._pairs = homecare_pairs(register, patients, self._tokens)
        self._hub_url = hub_url.rstrip("/")
        self._rng = random.Random(seed)
        self._generator = MessageGenerator(seed)
        self._client = httpx.AsyncClient(timeout=30.0)
        self.sent = 0
        self.refused = 0

    def next_message(self) -> tuple[Organisation, dict[str, Any]] | None:
        """The sending municipality and its next message; None when no patient fits (see homecare_pairs)."""
        if not self._pairs:
            return None
        municipality, gp, cpr = self._rng.choice(self._pairs)
        message = self._generator.homecare_observation(
            sender=municipality.ref, receiver=gp.ref, patient_cpr=cpr, now=datetime.now(UTC)
        )
        return municipality, message

    async def send_one(self) -> bool:
        """Send one message; True when the hub accepted it."""
        found = self.next_message()
        if found is None:
            return False
        municipality, message = found
        response = await self._client.post(
            f"{self._hub_url}/fhir/$process-message",
            content=orjson.dumps(message),
            headers={
                "Content-Type": "application/fhir+json",
                "Authorization": f"Bearer {self._tokens[municipality.id]}",
            },
        )
        if response.status_code == 202:
            self.sent += 1
            return True
        log.warning("simulated municipality's message refused", status=response.status_code)
        self.refused += 1
        return False

    async def run(self, *, rate: float) -> None:
        await send_at_rate(self.send_one, rate=rate, rng=self._rng, who="simulated municipality")

    async def close(self) -> None:
        await self._client.aclose()
