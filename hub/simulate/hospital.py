"""A simulated hospital: keeps sending realistic notifications and correspondence through the hub's ingest,
some of it in FHIR XML (as MedCom's receivers must take it)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import structlog

from connectors.kafka_producer import publish_message
from hub.domain.hl7v2 import APPLICATION_ACCEPT
from hub.domain.medcom import CARE_COMMUNICATION_EVENT, HOSPITAL_NOTIFICATION_EVENT
from hub.fhirxml.media import FHIR_JSON, FHIR_XML
from hub.fhirxml.writer import write_xml
from hub.route.register import Organisation, OrganisationKind, Register
from hub.simulate.adt import adt_message, send_over_mllp
from hub.simulate.generator import MessageGenerator
from hub.simulate.pacing import send_at_rate

log = structlog.get_logger(__name__)


class SimulatedHospitals:
    """Hospitals sending over HTTP; with `mllp` (host, port) some admissions and discharges go as HL7 v2 ADT
    over MLLP, and with `kafka` (producer, ingress topic) some messages go straight to Kafka."""

    def __init__(
        self,
        *,
        register: Register,
        hub_url: str,
        tokens: Mapping[str, str],
        seed: int | None = None,
        patients: int = 200,
        mllp: tuple[str, int] | None = None,
        kafka: tuple[Any, str] | None = None,
    ) -> None:
        self._register = register
        self._hub_url = hub_url.rstrip("/")
        self._tokens = dict(tokens)
        self._rng = random.Random(seed)
        self._generator = MessageGenerator(seed)
        self.patients = [self._generator.fictional_cpr() for _ in range(patients)]
        self._client = httpx.AsyncClient(timeout=30.0)
        self._mllp = mllp
        self._kafka = kafka
        self._stays: dict[str, tuple[Organisation, Organisation, str, datetime]] = {}  # cpr -> open stay
        self._on_leave: dict[str, datetime] = {}  # cpr -> when the leave began
        self.sent = 0
        self.refused = 0
        self.by_channel: dict[str, int] = {"http": 0, "http-xml": 0, "mllp": 0, "kafka": 0}

    def _of_kind(self, kind: OrganisationKind, accepting: str) -> list[Organisation]:
        return [o for o in self._register.organisations if o.kind is kind and accepting in o.accepts]

    def next_message(self) -> tuple[Organisation, dict[str, Any]]:
        hospitals = [
            o for o in self._register.organisations if o.kind is OrganisationKind.HOSPITAL and o.id in self._tokens
        ]
        hospital = self._rng.choice(hospitals)
        now = datetime.now(UTC)
        patient = self._rng.choice(self.patients)
        if self._rng.random() < 0.7:
            municipality = self._rng.choice(self._of_kind(OrganisationKind.MUNICIPALITY, HOSPITAL_NOTIFICATION_EVENT))
            message = self._generator.hospital_notification(
                sender=hospital.ref, receiver=municipality.ref, patient_cpr=patient, now=now
            )
        else:
            receivers = self._of_kind(OrganisationKind.GP, CARE_COMMUNICATION_EVENT) + self._of_kind(
                OrganisationKind.MUNICIPALITY, CARE_COMMUNICATION_EVENT
            )
            message = self._generator.care_communication(
                sender=hospital.ref,
                receiver=self._rng.choice(receivers).ref,
                patient_cpr=patient,
                with_attachment=self._rng.random() < 0.2,
                now=now,
            )
        return hospital, message

    async def send_one(self) -> bool:
        """Send one message over one of the channels; True when the hub accepted it."""
        draw = self._rng.random()
        if self._mllp is not None and draw < 0.2:
            return self._count("mllp", await self.send_adt())
        hospital, message = self.next_message()
        if self._kafka is not None and draw > 0.85:
            producer, topic = self._kafka
            await publish_message(producer, topic, orjson.dumps(message), sender_sor=hospital.sor)
            return self._count("kafka", True)
        as_xml = self._rng.random() < 0.25  # a quarter of what goes over HTTP is FHIR XML
        response = await self._client.post(
            f"{self._hub_url}/fhir/$process-message",
            content=write_xml(message) if as_xml else orjson.dumps(message),
            headers={
                "Content-Type": FHIR_XML if as_xml else FHIR_JSON,
                "Authorization": f"Bearer {self._tokens[hospital.id]}",
            },
        )
        if response.status_code != 202:
            log.warning("simulated hospital's message refused", status=response.status_code)
        return self._count("http-xml" if as_xml else "http", response.status_code == 202)

    def _count(self, channel: str, accepted: bool) -> bool:
        if accepted:
            self.sent += 1
            self.by_channel[channel] += 1
        else:
            self.refused += 1
        return accepted

    async def send_adt(self) -> bool:
        """The next event of a patient's stay, as the hospital's EPJ sends it: an admission (A01) for a patient not
        in hospital; for one who is, a leave (A21), the return from it (A22) or the discharge (A03).

        Like real feeds, MSH-4 names the hospital by its local HL7 facility code (its register entry's ``hl7``),
        MSH-6 the interface engine, PID-11.9 the kommunekode of the patient's home; PV1-3 names a department;
        one message in three is ISO 8859-1.
        """
        assert self._mllp is not None
        now = datetime.now(UTC)
        patient = self._rng.choice(self.patients)
        stay = self._stays.pop(patient, None)
        leave_started = self._on_leave.pop(patient, None)
        discharged: datetime | None = None
        if stay is None:
            hospitals = [o for o in self._register.organisations if o.kind is OrganisationKind.HOSPITAL]
            municipalities = [
                o
                for o in self._of_kind(OrganisationKind.MUNICIPALITY, HOSPITAL_NOTIFICATION_EVENT)
                if o.municipality_code
            ]
            hospital, municipality = self._rng.choice(hospitals), self._rng.choice(municipalities)
            visit = f"V{self._rng.randrange(10**8):08d}"
            stay = (hospital, municipality, visit, now)
            trigger = "A01"
        else:
            hospital, municipality, visit, _ = stay
            if leave_started is not None:
                trigger = "A22"
            elif self._rng.random() < 0.25:
                trigger = "A21"
                self._on_leave[patient] = now
            else:
                trigger, discharged = "A03", now
        if trigger != "A03":
            self._stays[patient] = stay
        facility, department = hl7_codes(hospital)
        charset = "8859/1" if self._rng.random() < 1 / 3 else "UNICODE UTF-8"
        text = adt_message(
            trigger=trigger,
            sending_facility=facility,
            receiving_facility="SEKTORHUB",
            cpr=patient,
            visit=visit,
            admitted=stay[3],
            discharged=discharged,
            now=now,
            control_id=f"DEMO{self._rng.randrange(10**9):09d}",
            name="Sørensen^Åse",
            department=department,
            municipality_code=municipality.municipality_code or "",
            leave_started=leave_started,
            charset=charset,
        )
        host, port = self._mllp
        code = await send_over_mllp(host, port, text, charset=charset)
        if code != APPLICATION_ACCEPT:
            log.warning("simulated hospital's ADT refused", code=code, trigger=trigger)
        return code == APPLICATION_ACCEPT

    async def run(self, *, rate: float) -> None:
        await send_at_rate(self.send_one, rate=rate, rng=self._rng, who="simulated hospital")

    async def close(self) -> None:
        await self._client.aclose()


def hl7_codes(hospital: Organisation) -> tuple[str, str]:
    """(MSH-4, PV1-3.1): the hospital's local facility code and one of its departments' point-of-care codes, as its
    register entry lists them; its SOR code and a department the register does not know when it lists none."""
    facilities = [i.namespace_id for i in hospital.hl7 if i.namespace_id and not i.point_of_care]
    departments = [i.point_of_care for i in hospital.hl7 if i.point_of_care]
    return (facilities[0] if facilities else hospital.sor), (departments[0] if departments else "MED")
