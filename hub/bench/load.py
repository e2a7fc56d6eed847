"""The bench's load: fictional patients spread over the register, and messages of every type, made before timing.

Each patient has a CPR number, a home municipality (weighted by population), a GP in or near it and a
hospital in its region. The mix: hospital notifications to the patient's municipality, care communications
from the hospital to the GP or the municipality (some with a PDF attachment), and replies from the GP or the
municipality to the hospital. The receivers answer every one with an Acknowledgement through the hub.

A workload pre-generates a pool of distinct messages. Beyond the pool it hands out copies of pool messages
with a fresh Bundle.id and MessageHeader.id (a byte replacement of the two UUIDs, a few microseconds), so
that runs of hundreds of thousands of messages need neither minutes of generation nor gigabytes of memory.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from hub.bench.denmark import MUNICIPALITIES
from hub.bench.register import BenchOrganisation, BenchRegister
from hub.domain.message import OrganisationRef
from hub.simulate.generator import MessageGenerator

KINDS: Final = (
    "hospital-notification",
    "care-communication",
    "care-communication-attachment",
    "care-communication-reply",
)


@dataclass(frozen=True, slots=True)
class Mix:
    """Shares of the message kinds; care communications carry an attachment with probability `attachment`."""

    hospital_notification: float = 0.55
    care_to_community: float = 0.30  # hospital -> GP or municipality
    care_reply: float = 0.15  # GP or municipality -> hospital
    attachment: float = 0.2


@dataclass(frozen=True, slots=True)
class Patient:
    cpr: str
    municipality: BenchOrganisation
    gp: BenchOrganisation
    hospital: BenchOrganisation


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to post: who sends it, its ids, the hub's partition key (the patient) and the bytes."""

    kind: str
    sender: str  # register id of the sending organisation
    message_id: str  # MessageHeader.id
    bundle_id: str
    key: bytes
    raw: bytes


def _ref(organisation: BenchOrganisation) -> OrganisationRef:
    return OrganisationRef(sor=organisation.sor, gln=organisation.gln, name=organisation.name)


def make_patients(
    register: BenchRegister, count: int, *, generator: MessageGenerator, rng: random.Random
) -> list[Patient]:
    municipalities = register.of_kind("municipality")
    population = {m.code: m.population_k for m in MUNICIPALITIES}
    weights = [population.get(m.municipality_code or "", 1) for m in municipalities]
    gps_by_code: dict[str | None, list[BenchOrganisation]] = {}
    gps_by_region: dict[str, list[BenchOrganisation]] = {}
    for gp in register.of_kind("gp"):
        gps_by_code.setdefault(gp.municipality_code, []).append(gp)
        gps_by_region.setdefault(gp.region, []).append(gp)
    hospitals_by_region: dict[str, list[BenchOrganisation]] = {}
    for hospital in register.of_kind("hospital"):
        hospitals_by_region.setdefault(hospital.region, []).append(hospital)
    seen: set[str] = set()
    patients: list[Patient] = []
    while len(patients) < count:
        cpr = generator.fictional_cpr()
        if cpr in seen:
            continue
        seen.add(cpr)
        home = rng.choices(municipalities, weights)[0]
        gp = rng.choice(gps_by_code.get(home.municipality_code) or gps_by_region[home.region])
        patients.append(Patient(cpr, home, gp, rng.choice(hospitals_by_region[home.region])))
    return patients


class MessageFactory:
    """Makes one message of a drawn kind for a drawn patient."""

    def __init__(self, register: BenchRegister, *, patients: int, mix: Mix = Mix(), seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._generator = MessageGenerator()  # unseeded: fresh random UUIDs in every run
        self._mix = mix
        self.patients = make_patients(register, patients, generator=self._generator, rng=self._rng)

    def _kind(self) -> str:
        draw = self._rng.random()
        if draw < self._mix.hospital_notification:
            return "hospital-notification"
        if draw < self._mix.hospital_notification + self._mix.care_to_community:
            with_attachment = self._rng.random() < self._mix.attachment
            return "care-communication-attachment" if with_attachment else "care-communication"
        return "care-communication-reply"

    def make(self, *, now: datetime) -> Outgoing:
        patient = self._rng.choice(self.patients)
        kind = self._kind()
        sender: BenchOrganisation
        message: dict[str, Any]
        if kind == "hospital-notification":
            sender = patient.hospital
            message = self._generator.hospital_notification(
                sender=_ref(sender), receiver=_ref(patient.municipality), patient_cpr=patient.cpr, now=now
            )
        elif kind == "care-communication-reply":
            sender = patient.gp if self._rng.random() < 0.5 else patient.municipality
            message = self._generator.care_communication(
                sender=_ref(sender),
                receiver=_ref(patient.hospital),
                patient_cpr=patient.cpr,
                with_attachment=self._rng.random() < self._mix.attachment,
                now=now,
            )
        else:
            sender = patient.hospital
            receiver = patient.gp if self._rng.random() < 0.5 else patient.municipality
            message = self._generator.care_communication(
                sender=_ref(sender),
                receiver=_ref(receiver),
                patient_cpr=patient.cpr,
                with_attachment=kind == "care-communication-attachment",
                now=now,
            )
        return Outgoing(
            kind=kind,
            sender=sender.id,
            message_id=message["entry"][0]["resource"]["id"],
            bundle_id=message["id"],
            key=patient.cpr.encode(),
            raw=orjson.dumps(message),
        )


def restamped(item: Outgoing) -> Outgoing:
    """The same message with a new Bundle.id and MessageHeader.id (every occurrence of the two UUIDs)."""
    message_id, bundle_id = str(uuid.uuid4()), str(uuid.uuid4())
    raw = item.raw.replace(item.message_id.encode(), message_id.encode()).replace(
        item.bundle_id.encode(), bundle_id.encode()
    )
    return replace(item, message_id=message_id, bundle_id=bundle_id, raw=raw)


class Workload:
    """A pool of pre-generated messages; ``take(n)`` hands out the next n (fresh ids beyond the pool)."""

    def __init__(
        self,
        register: BenchRegister,
        *,
        pool: int,
        patients: int = 20_000,
        mix: Mix = Mix(),
        seed: int | None = None,
    ) -> None:
        factory = MessageFactory(register, patients=patients, mix=mix, seed=seed)
        now = datetime.now(UTC)
        self.pool = [factory.make(now=now) for _ in range(pool)]
        self.patients = len(factory.patients)
        self._next = 0

    def _item(self, index: int) -> Outgoing:
        if index < len(self.pool):
            return self.pool[index]
        return restamped(self.pool[index % len(self.pool)])

    def take(self, count: int) -> list[Outgoing]:
        """The next `count` messages, made now (call this before timing)."""
        return list(self.stream(count))

    def stream(self, count: int) -> Iterator[Outgoing]:
        """The next `count` messages, each made when asked for (for runs too long to hold in memory)."""
        for _ in range(count):
            index, self._next = self._next, self._next + 1
            yield self._item(index)

    def describe(self) -> dict[str, Any]:
        kinds = Counter(item.kind for item in self.pool)
        sizes = [len(item.raw) for item in self.pool]
        return {
            "pool": len(self.pool),
            "patients": self.patients,
            "kinds": dict(sorted(kinds.items())),
            "senders": len({item.sender for item in self.pool}),
            "mean_bytes": round(sum(sizes) / len(sizes)) if sizes else 0,
            "max_bytes": max(sizes, default=0),
        }
