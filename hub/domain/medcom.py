"""Systems and codes of the MedCom FHIR messaging contract (MedCom terminology 1.4.0, messaging 2.x)."""

from typing import Final

SOR_SYSTEM: Final = "urn:oid:1.2.208.176.1.1"
CPR_SYSTEM: Final = "urn:oid:1.2.208.176.1.2"
# Replacement CPR numbers (erstatnings-CPR): the national eCPR system and locally assigned ones.
REPLACEMENT_CPR_SYSTEMS: Final = frozenset({"urn:oid:1.2.208.176.1.6.1.1", "urn:oid:1.2.208.176.1.6.1.3"})
GLN_SYSTEMS: Final = frozenset({"https://www.gs1.org/gln", "http://www.gs1.org/gln"})

EVENT_CODE_SYSTEM: Final = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-eventCodes"
DESTINATION_USE_EXTENSION: Final = (
    "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-destinationUseExtension"
)
DESTINATION_USE_SYSTEM: Final = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-destinationUse"
ACTIVITY_CODE_SYSTEM: Final = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-activityCodes"

ACKNOWLEDGEMENT_EVENT: Final = "acknowledgement-message"

ACKNOWLEDGEMENT_PROFILE: Final = (
    "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-messaging-acknowledgement"
)
ACKNOWLEDGEMENT_HEADER_PROFILE: Final = (
    "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-messaging-acknowledgementHeader"
)
ACKNOWLEDGEMENT_OUTCOME_PROFILE: Final = (
    "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-acknowledgement-operationoutcome"
)
MESSAGING_PROVENANCE_PROFILE: Final = (
    "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-provenance"
)
MESSAGING_ORGANIZATION_PROFILE: Final = (
    "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-organization"
)
