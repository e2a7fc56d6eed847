"""Realistic MedCom messages for the demo and the benchmarks: HospitalNotifications and CareCommunications.

Everything is fictional: names, CPR numbers (valid dates, random serial digits), clinical text. With a seed,
a generator makes the same messages in the same order (ids included), which keeps benchmarks and tests
reproducible; without one, every id is a fresh random UUID.
"""

from __future__ import annotations

import base64
import random
from datetime import date, datetime, timedelta
from typing import Any, Final

from hub.domain.message import OrganisationRef
from hub.messages import builder, care_communication, hospital_notification
from hub.messages.hospital_notification import HOSPITAL_NOTIFICATION_EVENTS, StayEvent
from hub.simulate import samples

_FIRST_BIRTHDAY: Final = date(1960, 1, 1)
_LAST_BIRTHDAY: Final = date(2009, 12, 31)


def pdf_attachment(*, title: str, text: str, now: datetime) -> dict[str, Any]:
    """A small PDF-like attachment (PDF header, the text, trailer): enough to look like a document."""
    content = f"%PDF-1.4\n% Sektor-hub demo attachment\n({title})\n({text})\n%%EOF\n".encode()
    return {
        "contentType": "application/pdf",
        "data": base64.b64encode(content).decode("ascii"),
        "title": title,
        "creation": builder.fhir_datetime(now),
    }


class MessageGenerator:
    """Makes fictional but well-formed MedCom messages; deterministic when given a seed."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._new_id: builder.IdFactory = builder.seeded_ids(self._rng) if seed is not None else builder.random_id

    def fictional_cpr(self) -> str:
        """DDMMYY of a birthday in 1960-2009, a century digit that fits the year, three random digits."""
        born = date.fromordinal(self._rng.randint(_FIRST_BIRTHDAY.toordinal(), _LAST_BIRTHDAY.toordinal()))
        century = self._rng.randint(0, 3) if born.year < 2000 else self._rng.randint(4, 9)
        return f"{born:%d%m%y}{century}{self._rng.randint(0, 999):03d}"

    def hospital_notification(
        self,
        *,
        sender: OrganisationRef,
        receiver: OrganisationRef,
        event: str | None = None,
        patient_cpr: str | None = None,
        now: datetime,
    ) -> dict[str, Any]:
        """A HospitalNotification of `event` (STAA, STIN, STOR, SLOR, SLHJ, MORS; random when None)."""
        code = event or self._rng.choice(sorted(HOSPITAL_NOTIFICATION_EVENTS))
        if code not in HOSPITAL_NOTIFICATION_EVENTS:
            raise ValueError(f"unknown HospitalNotification event {code!r}")
        stay = HOSPITAL_NOTIFICATION_EVENTS[code]
        encounter_class = self._rng.choice(stay.classes)
        hospital = builder.organization(sender, resource_id=self._new_id())
        municipality = builder.organization(receiver, resource_id=self._new_id())
        patient = self._patient(patient_cpr, deceased=True if stay.deceased else None)
        period, leave = self._stay_times(stay, now)
        encounter = hospital_notification.encounter(
            resource_id=self._new_id(),
            stay=stay,
            encounter_class=encounter_class,
            patient=patient,
            hospital=hospital,
            episode_id=self._new_id(),
            period=period,
            leave=leave,
        )
        admission = not (stay.ended or stay.leave)
        return hospital_notification.build_hospital_notification(
            new_id=self._new_id,
            now=now,
            stay=stay,
            encounter_class=encounter_class,
            hospital=hospital,
            municipality=municipality,
            patient=patient,
            encounter=encounter,
            report_of_admission=self._rng.random() < 0.3 if admission else None,
        )

    def care_communication(
        self,
        *,
        sender: OrganisationRef,
        receiver: OrganisationRef,
        patient_cpr: str | None = None,
        with_attachment: bool = False,
        now: datetime,
    ) -> dict[str, Any]:
        """A new CareCommunication message: one written segment and, optionally, a PDF attachment."""
        author_org = builder.organization(sender, resource_id=self._new_id())
        recipient_org = builder.organization(receiver, resource_id=self._new_id())
        patient = self._patient(patient_cpr)
        practitioner = care_communication.practitioner(
            resource_id=self._new_id(),
            family=self._rng.choice(samples.FAMILY_NAMES),
            given=self._rng.choice(samples.GIVEN_NAMES_FEMALE + samples.GIVEN_NAMES_MALE),
        )
        author = care_communication.practitioner_role(
            resource_id=self._new_id(), practitioner=practitioner, role=self._rng.choice(samples.ROLES)
        )
        note = self._rng.choice(samples.CARE_NOTES)
        text = note.text.format(given=patient["name"][0]["given"][0])
        segment_ids = [f"urn:uuid:{self._new_id()}" for _ in range(2 if with_attachment else 1)]
        payloads = [
            care_communication.payload(
                identifier=segment_ids[0],
                organisation=author_org,
                author=author,
                now=now,
                phone=self._phone(),
            )
            | {"contentString": text}
        ]
        if with_attachment:
            attachment = pdf_attachment(title=note.attachment_title, text=text, now=now)
            payloads.append(
                care_communication.payload(identifier=segment_ids[1], organisation=author_org, author=author, now=now)
                | {"contentAttachment": attachment}
            )
        communication = care_communication.communication(
            resource_id=self._new_id(),
            identifier=f"urn:uuid:{self._new_id()}",
            category=note.category,
            patient=patient,
            payloads=payloads,
            topic=note.topic,
        )
        return care_communication.build_care_communication(
            new_id=self._new_id,
            now=now,
            sender=author_org,
            receiver=recipient_org,
            patient=patient,
            communication=communication,
            author=author,
            practitioner=practitioner,
            segment_ids=segment_ids,
        )

    def homecare_observation(
        self, *, sender: OrganisationRef, receiver: OrganisationRef, patient_cpr: str | None = None, now: datetime
    ) -> dict[str, Any]:
        """A HomeCareObservation from a municipality's acute care team to the patient's GP (hub.simulate.homecare)."""
        from hub.simulate.homecare import homecare_observation

        return homecare_observation(
            rng=self._rng,
            new_id=self._new_id,
            sender=sender,
            receiver=receiver,
            patient=self._patient(patient_cpr),
            now=now,
            tests=self._rng.randint(1, 4),
        )

    def carbon_copy(self, original: dict[str, Any], *, now: datetime) -> dict[str, Any]:
        """The cc receivers' own message for `original` (hub.messages.builder.carbon_copy), with this generator's
        ids."""
        return builder.carbon_copy(original, new_id=self._new_id, now=now)

    def _phone(self) -> str:
        return f"{self._rng.randint(2, 9)}{self._rng.randint(0, 9_999_999):07d}"

    def _patient(self, cpr: str | None, *, deceased: bool | None = None) -> dict[str, Any]:
        cpr = cpr or self.fictional_cpr()
        # the last digit of a CPR number is odd for men and even for women
        given = samples.GIVEN_NAMES_MALE if int(cpr[-1]) % 2 else samples.GIVEN_NAMES_FEMALE
        return builder.patient(
            cpr,
            resource_id=self._new_id(),
            family=self._rng.choice(samples.FAMILY_NAMES),
            given=[self._rng.choice(given)],
            deceased=deceased,
        )

    def _stay_times(
        self, stay: StayEvent, now: datetime
    ) -> tuple[tuple[datetime, datetime | None], tuple[datetime, datetime | None] | None]:
        """When the stay began (and ended), and the leave, fitting the event that is reported `now`."""
        minutes = self._rng.randint
        if stay.ended or stay.leave:  # the stay began days ago
            admitted = now - timedelta(days=minutes(1, 12), minutes=minutes(0, 600))
        else:  # STAA and STIN are sent right after the admission
            admitted = now - timedelta(minutes=minutes(5, 90))
        just_now = now - timedelta(minutes=minutes(1, 30))
        period = (admitted, just_now if stay.ended else None)
        if stay.leave == "start":
            return period, (just_now, None)
        if stay.leave == "end":
            left = max(admitted, now - timedelta(minutes=minutes(300, 2000)))
            return period, (left, just_now)
        return period, None
