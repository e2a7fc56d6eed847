"""MedCom HomeCareObservation (1.2.1): the municipal acute care team's test results, sent to the patient's GP.

The profiles are MedCom's, translated from its FSH into schemas/medcom/homecareobservation/ (see schemas/SOURCES.md);
these are the names the hub's generator writes. The message goes to one primary receiver, the GP who asked for
the tests (MedComRequesterOrganization); its MessageHeader profile allows no cc receivers, and MedCom's
MessageDefinition (messagedefinitions 1.0.0, MedComHomeCareObservationMessageDefinition 1.1) names no other
receivers: "kommuner og primærsektoren".
"""

from __future__ import annotations

from typing import Final

from hub.domain.medcom import MESSAGE_DEFINITIONS

HOMECARE_OBSERVATION_EVENT: Final = "homecareobservation-message"
HOMECARE_OBSERVATION_DEFINITION: Final = f"{MESSAGE_DEFINITIONS}MedComHomeCareObservationMessageDefinition|1.1"

PROFILES: Final = "http://medcomfhir.dk/ig/homecareobservation/StructureDefinition/"
MESSAGE_PROFILE: Final = f"{PROFILES}medcom-homecareobservation-message"
HEADER_PROFILE: Final = f"{PROFILES}medcom-homecareobservation-messageheader"
DIAGNOSTIC_REPORT_PROFILE: Final = f"{PROFILES}medcom-homecareobservation-diagnosticreport"
OBSERVATION_PROFILE: Final = f"{PROFILES}medcom-homecare-observation"
# the sender and the receiver (MedCom messaging 4.0.2)
PRODUCER_ORGANIZATION_PROFILE: Final = (
    "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-producer-organization"
)
REQUESTER_ORGANIZATION_PROFILE: Final = (
    "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-requesterorganization"
)

# Organization.identifier of the producer: its producent-ID (the one code: KAF, kommunal akutfunktion)
PRODUCENT_ID_SYSTEM: Final = "http://medcomfhir.dk/ig/terminology/CodeSystem/MedComProducentID"
MUNICIPAL_ACUTE_FUNCTION: Final = "KAF"
# Organization.identifier of the requesting GP: the practice's ydernummer
YDERNUMMER_SYSTEM: Final = "urn:oid:1.2.208.176.1.4"

REPORT_CODE_SYSTEM: Final = "http://medcomfhir.dk/ig/terminology/CodeSystem/MedComDiagnosticReportCodes"
REPORT_CODE: Final = "HomeCareReport"
NPU_SYSTEM: Final = "urn:oid:1.2.208.176.2.1"
MEDCOM_OBSERVATION_SYSTEM: Final = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-observation-codes"
INTERPRETATION_SYSTEM: Final = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-core-interpretation-codes"
NOT_INTERPRETED: Final = "NI"  # the one interpretation the profile allows
UCUM_SYSTEM: Final = "http://unitsofmeasure.org"
