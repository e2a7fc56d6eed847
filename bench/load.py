"""The bench's load: fictional patients spread over the register, and messages of every type, made before timing.

Each patient has a CPR number, a home municipality (weighted by population), a GP in or near it and a
hospital in its region. The mix: hospital notifications to the patient's municipality, care communications
from the hospital to the GP or the municipality (some with a PDF attachment), replies from the GP or the
municipality to the hospital, and the hub's own types: discharge letters and medication updates from the
hospital to the GP and the municipality, referrals from the GP to the hospital. The receivers answer every
one with an Acknowledgement through the hub.

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

from bench.denmark import MUNICIPALITIES
from bench.register import BenchOrganisation, BenchRegister
from hub.domain.message import OrganisationRef
from hub.simulate import clinical
from hub.simulate.generator import MessageGenerator

KINDS: Final = (
    "hospital-notification",
    "care-communication",
    "care-communication-attachment",
    "care-communication-reply",
    "discharge-letter",
    "medication-update",
    "referral",
)


@dataclass(frozen=True, slots=True)
class Mix:
    """Shares of the message kinds; care communications carry an attachment with probability `attachment`."""

    hospital_notification: float = 0.45
    care_to_community: float = 0.25  # hospital -> GP or municipality
    care_reply: float = 0.12  # GP or municipality -> hospital
    discharge_letter: float = 0.08  # hospital -> GP (primary) and municipality (cc)
    medication_update: float = 0.05  # hospital -> GP (primary) and municipality (cc)
    referral: float = 0.05  # GP -> hospital
    attachment: float = 0.2

    def draw(self, rng: random.Random) -> str:
        """One kind, drawn by the shares (care communications to the community split by `attachment`)."""
        shares = {
            "hospital-notification": self.hospital_notification,
            "care-communication": self.care_to_community,
            "care-communication-reply": self.care_reply,
            "discharge-letter": self.discharge_letter,
            "medication-update": self.medication_update,
            "referral": self.referral,
        }
        kind = rng.choices(list(shares), list(shares.values()))[0]
        if kind == "care-communication" and rng.random() < self.attachment:
            return "care-communication-attachment"
        return kind


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

    def make(self, *, now: datetime) -> Outgoing:
        patient = self._rng.choice(self.patients)
        kind = self._mix.draw(self._rng)
        sender: BenchOrganisation
        message: dict[str, Any]
        if kind in ("discharge-letter", "medication-update"):
            sender = patient.hospital
            make = clinical.discharge_letter if kind == "discharge-letter" else clinical.medication_update
            message = make(
                sender=_ref(sender),
                gp=_ref(patient.gp),
                municipality=_ref(patient.municipality),
                patient_cpr=patient.cpr,
                now=now,
            )
        elif kind == "referral":
            sender = patient.gp
            message = clinical.referral(
                sender=_ref(sender), recipient=_ref(patient.hospital), patient_cpr=patient.cpr, now=now
            )
        elif kind == "hospital-notification":
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
