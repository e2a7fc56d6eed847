"""Systems and codes of the MedCom FHIR messaging contract (MedCom terminology 1.4.0, messaging 2.x).

The one place the hub defines them: the validator, the message builders, the HL7 v2 mapping, the connectors
and the simulator import them from here.
"""

from typing import Final

# --- identifiers ------------------------------------------------------------------------------------------------

SOR_OID: Final = "1.2.208.176.1.1"
SOR_SYSTEM: Final = f"urn:oid:{SOR_OID}"
CPR_OID: Final = "1.2.208.176.1.2"
CPR_SYSTEM: Final = f"urn:oid:{CPR_OID}"
# Replacement CPR numbers (erstatnings-CPR): the national eCPR system and locally assigned ones.
REPLACEMENT_CPR_SYSTEMS: Final = frozenset({"urn:oid:1.2.208.176.1.6.1.1", "urn:oid:1.2.208.176.1.6.1.3"})
# GLN (EAN-13 location number): the spelling every MedCom package uses, and the one also seen in the wild.
GLN_SYSTEM: Final = "https://www.gs1.org/gln"
GLN_SYSTEMS: Final = frozenset({GLN_SYSTEM, "http://www.gs1.org/gln"})
# SOR organisations are addressed by their SOR2 lookup URL in MessageHeader source and destination endpoints.
SOR_ENDPOINT_PREFIX: Final = "https://sor2.sum.dsdn.dk/#id="

# --- event codes ------------------------------------------------------------------------------------------------

EVENT_CODE_SYSTEM: Final = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-eventCodes"
HOSPITAL_NOTIFICATION_EVENT: Final = "hospital-notification-message"
CARE_COMMUNICATION_EVENT: Final = "care-communication-message"
ACKNOWLEDGEMENT_EVENT: Final = "acknowledgement-message"

# --- MessageHeader, Provenance, acknowledgement -----------------------------------------------------------------

DESTINATION_USE_EXTENSION: Final = (
    "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-destinationUseExtension"
)
DESTINATION_USE_SYSTEM: Final = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-destinationUse"
ACTIVITY_CODE_SYSTEM: Final = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-activityCodes"
# Provenance activity codes (medcom-messaging-activityCodes) of messages that are not HospitalNotifications
NEW_MESSAGE_ACTIVITY: Final = "new-message"
MODIFIED_MESSAGE_ACTIVITY: Final = "modified-message"
RETRACT_MESSAGE_ACTIVITY: Final = "retract-message"
# a cc receiver's own message: an exact copy of the original with new Bundle.id and MessageHeader.id and this
# Provenance added (MedCom governance 040 "Governance4FHIR-Messaging", scenario #3a; hub.messages.builder.carbon_copy)
CARBON_COPY_ACTIVITY: Final = "carboncopy-message"
ACKNOWLEDGEMENT_ACTIVITY: Final = "acknowledgement"
# MessageHeader.response.code of an acknowledgement
RESPONSE_CODES: Final = ("ok", "transient-error", "fatal-error")
# OperationOutcome.issue.details.coding of an error acknowledgement: MedCom's own codes (terminology 2.0.1,
# CodeSystem version 1.8.1; the same nine codes as in 1.4.0, which acknowledgement 2.0.3 names), which the
# acknowledgement profile binds (required, coding 0..*) through the ValueSet medcom-acknowledgement-issue-details.
# The CodeSystem is shipped as schemas/medcom/CodeSystem-medcom-acknowledgement-error-codes.json (see
# schemas/SOURCES.md); which code the hub sends for which refusal: hub.messages.acknowledgement.REFUSALS.
ACKNOWLEDGEMENT_ERROR_CODE_SYSTEM: Final = (
    "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-acknowledgement-error-codes"
)
RECEIVER_IDENTIFIER_UNKNOWN: Final = "MSG_Receiver_Identifier_UNKNOWN"
RECEIVER_IDENTIFIER_MISSING: Final = "MSG_Receiver_Identifier_MISSING"
RECEIVER_UNABLE_TO_RECEIVE_MESSAGE_TYPE: Final = "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE"
VALUESET_VALUE_UNKNOWN: Final = "MSG_VALUESET_VALUE_UNKNOWN"
CODESYSTEM_VALUE_UNKNOWN: Final = "MSG_CodeSystem_VALUE_UNKNOWN"
ELEMENT_TOO_LONG: Final = "MSG_Element_To_Long"  # (sic)
DATATYPE_WRONG: Final = "MSG_Datatype_Wrong"
MAILBOX_OUT_OF_OPERATION: Final = "MSG_Mailbox_Out_Of_Operation"
DAMAGED_DURING_TRANSPORT: Final = "MSG_Damaged_durin_transport"  # (sic)
# the display of each code, as the CodeSystem gives it (spelling included)
ACKNOWLEDGEMENT_ERROR_DISPLAYS: Final = {
    RECEIVER_IDENTIFIER_UNKNOWN: "Receiver identifier unknown",
    RECEIVER_IDENTIFIER_MISSING: "Receiver identifier missing",
    RECEIVER_UNABLE_TO_RECEIVE_MESSAGE_TYPE: "Receiver unable to receive this message type",
    VALUESET_VALUE_UNKNOWN: "The value provided is not in the valueSet",
    CODESYSTEM_VALUE_UNKNOWN: "The value provided is not in the CodeSystem",
    ELEMENT_TOO_LONG: "The value of the element is to long",
    DATATYPE_WRONG: "The data type is wrong",
    MAILBOX_OUT_OF_OPERATION: "The mailbox is temporary out of operation",
    DAMAGED_DURING_TRANSPORT: "The message has been damaged during trasport",
}

# --- profiles ---------------------------------------------------------------------------------------------------

CORE_PROFILES: Final = "http://medcomfhir.dk/ig/core/StructureDefinition/"
HOSPITAL_NOTIFICATION_PROFILES: Final = "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/"
CARE_COMMUNICATION_PROFILES: Final = "http://medcomfhir.dk/ig/carecommunication/StructureDefinition/"

CORE_PATIENT_PROFILE: Final = f"{CORE_PROFILES}medcom-core-patient"
CORE_PRACTITIONER_PROFILE: Final = f"{CORE_PROFILES}medcom-core-practitioner"
CORE_PRACTITIONER_ROLE_PROFILE: Final = f"{CORE_PROFILES}medcom-core-practitionerrole"
ACKNOWLEDGEMENT_PROFILE: Final = (
    "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-messaging-acknowledgement"
)
ACKNOWLEDGEMENT_HEADER_PROFILE: Final = (
    "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-messaging-acknowledgementHeader"
)
# The canonical URL of the OperationOutcome profile as published in the acknowledgement 2.0.3 package
# (StructureDefinition-medcom-acknowledgement-operationoutcome.json) and used by its examples.
ACKNOWLEDGEMENT_OUTCOME_PROFILE: Final = (
    "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-acknowledgement-operationoutcome"
)
MESSAGING_PROVENANCE_PROFILE: Final = (
    "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-provenance"
)
MESSAGING_ORGANIZATION_PROFILE: Final = (
    "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-organization"
)

# --- HospitalNotification ---------------------------------------------------------------------------------------

HOSPITAL_NOTIFICATION_MESSAGE_PROFILE: Final = f"{HOSPITAL_NOTIFICATION_PROFILES}medcom-hospitalNotification-message"
HOSPITAL_NOTIFICATION_HEADER_PROFILE: Final = (
    f"{HOSPITAL_NOTIFICATION_PROFILES}medcom-hospitalNotification-messageHeader"
)
HOSPITAL_NOTIFICATION_ENCOUNTER_PROFILE: Final = (
    f"{HOSPITAL_NOTIFICATION_PROFILES}medcom-hospitalNotification-encounter"
)
# "hospitalnotifiation" is how the HospitalNotification 3.0 package spells it
LEAVE_PERIOD_EXTENSION: Final = f"{HOSPITAL_NOTIFICATION_PROFILES}medcom-hospitalnotifiation-leave-period-extension"
REPORT_OF_ADMISSION_EXTENSION: Final = f"{HOSPITAL_NOTIFICATION_PROFILES}medcom-messaging-reportOfAdmissionExtension"
REPORT_OF_ADMISSION_RECIPIENT_EXTENSION: Final = (
    f"{HOSPITAL_NOTIFICATION_PROFILES}medcom-messaging-reportOfAdmissionRecipientExtension"
)

# --- CareCommunication ------------------------------------------------------------------------------------------

CARE_COMMUNICATION_MESSAGE_PROFILE: Final = f"{CARE_COMMUNICATION_PROFILES}medcom-careCommunication-message"
CARE_COMMUNICATION_HEADER_PROFILE: Final = f"{CARE_COMMUNICATION_PROFILES}medcom-careCommunication-messageHeader"
CARE_COMMUNICATION_PROVENANCE_PROFILE: Final = f"{CARE_COMMUNICATION_PROFILES}medcom-careCommunication-provenance"
CARE_COMMUNICATION_COMMUNICATION_PROFILE: Final = f"{CARE_COMMUNICATION_PROFILES}medcom-careCommunication-communication"
# the extensions of a Communication.payload segment
PAYLOAD_DATETIME_EXTENSION: Final = f"{CORE_PROFILES}medcom-core-datetime-extension"
PAYLOAD_IDENTIFIER_EXTENSION: Final = f"{CORE_PROFILES}medcom-core-identifier-extension"
PAYLOAD_AUTHOR_EXTENSION: Final = f"{CORE_PROFILES}medcom-core-practitioner-extension"
PAYLOAD_CONTACT_EXTENSION: Final = f"{CORE_PROFILES}medcom-core-contact-extension"

CARE_COMMUNICATION_DEFINITION: Final = (
    "http://medcomfhir.dk/ig/messagedefinitions/MessageDefinition/MedComCareCommunicationMessageDefinition|5.0"
)

# --- MessageDefinitions (MessageHeader.definition: "<url>|<version>") ------------------------------------------

MESSAGE_DEFINITIONS: Final = "http://medcomfhir.dk/ig/messagedefinitions/MessageDefinition/"
# MedCom's MessageDefinitions (messagedefinitions 1.0.0) by canonical URL without version, with their event code;
# that package has none for HospitalNotification (whose examples carry no MessageHeader.definition)
MESSAGE_DEFINITION_EVENTS: Final = {
    f"{MESSAGE_DEFINITIONS}MedComAcknowledgementMessageDefinition": ACKNOWLEDGEMENT_EVENT,
    f"{MESSAGE_DEFINITIONS}MedComCareCommunicationMessageDefinition": CARE_COMMUNICATION_EVENT,
    f"{MESSAGE_DEFINITIONS}MedComHomeCareObservationMessageDefinition": "homecareobservation-message",
}
CARE_COMMUNICATION_CATEGORY_SYSTEM: Final = (
    "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-careCommunication-categoryCodes"
)
PRACTITIONER_ROLE_SYSTEM: Final = (
    "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-core-PractitionerRolesSKSadministrativ"
)

# --- terminologies of other publishers that the hub's messages use ---------------------------------------------

# Encounter.class of a HospitalNotification: IMP (admitted) or EMER (acute ambulant)
ENCOUNTER_CLASS_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
LOINC_SYSTEM: Final = "http://loinc.org"
SNOMED_CT_SYSTEM: Final = "http://snomed.info/sct"
ATC_SYSTEM: Final = "http://www.whocc.no/atc"
