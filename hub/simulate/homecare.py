"""Fictional HomeCareObservation messages: a municipality's acute care team reports test results to a GP.

The tests, codes and units are those of MedCom's HomeCareObservation examples (NPU and MedCom observation codes);
the values are drawn from plausible ranges. Every value is fictional. Pure: the caller supplies the random
source, the id factory, the patient and the time, so a seeded generator makes the same message every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from hub.domain import homecare, medcom
from hub.domain.message import OrganisationRef
from hub.messages import builder, care_communication
from hub.simulate import samples

Resource = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Test:
    """One kind of home test: its code, display, unit and the range its fictional values are drawn from."""

    system: str
    code: str
    display: str
    unit: str
    low: float
    high: float
    decimals: int = 1


TESTS: Final = (
    Test(homecare.NPU_SYSTEM, "NPU19748", "P—C-reaktivt protein; massek. = ? mg/L", "mg/L", 1, 120, 0),
    Test(homecare.NPU_SYSTEM, "NPU02319", "B—Hæmoglobin(Fe); stofk. = ? mmol/L", "mmol/L", 6.0, 10.0),
    Test(homecare.NPU_SYSTEM, "NPU02593", "B—Leukocytter; antalk. = ? \u00d7 10^9/L", "10^9/L", 3.0, 15.0),
    Test(homecare.NPU_SYSTEM, "NPU22089", "P(kB)—Glucose; stofk. = ? mmol/L", "mmol/L", 4.0, 14.0),
    Test(homecare.NPU_SYSTEM, "NPU08676", "Pt—Legeme; temp. = ? °C", "°C", 36.0, 39.5),
    Test(homecare.NPU_SYSTEM, "NPU21692", "Hjerte—Systole; frekv. = ? \u00d7 1/min", "1/min", 55, 120, 0),
    Test(homecare.NPU_SYSTEM, "DNK05472", "Arm—Blodtryk(systolisk); tryk = ? mmHg", "mmHg", 95, 170, 0),
    Test(homecare.MEDCOM_OBSERVATION_SYSTEM, "MCS88122", "Pt—Respiration; frekvens = ? X 1/min", "1/min", 12, 26, 0),
)
CONCLUSIONS: Final = (
    "Målinger foretaget i hjemmet af akutsygeplejen. Borgeren er vågen og klar.",
    "Borgeren har haft feber siden i går. Væskeindtag er opfordret.",
    "Kontrol efter aftale med egen læge. Ingen ændringer i almentilstand.",
)


def producer_organization(org: OrganisationRef, *, resource_id: str) -> Resource:
    """The sender: a MedComProducerOrganization (SOR, GLN and the producent-ID of a municipal acute function)."""
    resource = builder.organization(org, resource_id=resource_id)
    resource["meta"] = {"profile": [homecare.PRODUCER_ORGANIZATION_PROFILE]}
    resource["identifier"].append({"system": homecare.PRODUCENT_ID_SYSTEM, "value": homecare.MUNICIPAL_ACUTE_FUNCTION})
    return resource


def requester_organization(org: OrganisationRef, *, resource_id: str, initials: str) -> Resource:
    """The receiver: a MedComRequesterOrganization, the practice with its ydernummer and the requesting GP's
    initials (contact.name.given). The ydernummer is fictional: six digits of the practice's SOR code."""
    resource = builder.organization(org, resource_id=resource_id)
    resource["meta"] = {"profile": [homecare.REQUESTER_ORGANIZATION_PROFILE]}
    resource["identifier"].append({"system": homecare.YDERNUMMER_SYSTEM, "value": fictional_ydernummer(org)})
    resource["contact"] = [{"name": {"given": [initials]}}]
    return resource


def fictional_ydernummer(org: OrganisationRef) -> str:
    digits = "".join(c for c in (org.sor or org.gln or "") if c.isdigit())
    return (digits[:6] or "0").rjust(6, "0")


def observation(test: Test, *, resource_id: str, patient: Resource, value: float, taken: datetime) -> Resource:
    quantity: dict[str, Any] = {"value": round(value, test.decimals) if test.decimals else round(value)}
    quantity["unit"] = test.unit
    return {
        "resourceType": "Observation",
        "id": resource_id,
        "meta": {"profile": [homecare.OBSERVATION_PROFILE]},
        "status": "final",
        "code": {"coding": [{"system": test.system, "code": test.code, "display": test.display}]},
        "subject": builder.reference(patient),
        "effectiveDateTime": builder.fhir_datetime(taken),
        "valueQuantity": quantity,
        "interpretation": [{"coding": [builder.coding(homecare.INTERPRETATION_SYSTEM, homecare.NOT_INTERPRETED)]}],
    }


def homecare_observation(
    *,
    rng: random.Random,
    new_id: builder.IdFactory,
    sender: OrganisationRef,
    receiver: OrganisationRef,
    patient: Resource,
    now: datetime,
    tests: int = 3,
) -> Resource:
    """A new HomeCareObservation message from `sender` (the municipality) to `receiver` (the patient's GP)."""
    producer = producer_organization(sender, resource_id=new_id())
    gp = requester_organization(receiver, resource_id=new_id(), initials=rng.choice(("OKM", "SDA", "LPH", "MJ")))
    nurse: Resource = care_communication.practitioner(
        resource_id=new_id(),
        family=rng.choice(samples.FAMILY_NAMES),
        given=rng.choice(samples.GIVEN_NAMES_FEMALE + samples.GIVEN_NAMES_MALE),
    )
    nurse["telecom"] = [{"system": "phone", "value": f"+45 {rng.randint(20_000_000, 99_999_999)}"}]
    role = care_communication.practitioner_role(resource_id=new_id(), practitioner=nurse, role="sygeplejerske")
    taken = now - timedelta(minutes=rng.randint(10, 90))
    observations = [
        observation(
            test,
            resource_id=new_id(),
            patient=patient,
            value=rng.uniform(test.low, test.high),
            taken=taken + timedelta(minutes=n),
        )
        for n, test in enumerate(rng.sample(TESTS, k=max(1, min(tests, len(TESTS)))))
    ]
    report: Resource = {
        "resourceType": "DiagnosticReport",
        "id": new_id(),
        "meta": {"profile": [homecare.DIAGNOSTIC_REPORT_PROFILE]},
        "status": "final",
        "code": {"coding": [builder.coding(homecare.REPORT_CODE_SYSTEM, homecare.REPORT_CODE)]},
        "subject": builder.reference(patient),
        "issued": builder.fhir_datetime(now),
        "performer": [builder.reference(producer), builder.reference(role)],
        "result": [builder.reference(o) for o in observations],
        "conclusion": rng.choice(CONCLUSIONS),
    }
    return builder.message(
        new_id=new_id,
        now=now,
        bundle_profile=homecare.MESSAGE_PROFILE,
        header_profile=homecare.HEADER_PROFILE,
        event=homecare.HOMECARE_OBSERVATION_EVENT,
        activity=medcom.NEW_MESSAGE_ACTIVITY,
        sender=producer,
        receivers=[(gp, "primary")],
        content=[patient, report, *observations, role, nurse],
        focus=report,
        definition=homecare.HOMECARE_OBSERVATION_DEFINITION,
    )
