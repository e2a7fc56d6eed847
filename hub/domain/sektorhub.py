"""Systems and codes of the hub's own message types (discharge letter, referral, medication update), for which
MedCom has no FHIR standard: schemas/sektorhub/ publishes their CodeSystem, MessageDefinitions and profiles.

The one place the hub defines them, as hub.domain.medcom is for MedCom's.
"""

from typing import Final

# schemas/sektorhub/CodeSystem-sektorhub-eventCodes.json
EVENT_CODE_SYSTEM: Final = "http://sektorhub.dk/fhir/CodeSystem/sektorhub-eventCodes"
DISCHARGE_LETTER_EVENT: Final = "sektorhub-discharge-letter-message"
REFERRAL_EVENT: Final = "sektorhub-referral-message"
MEDICATION_UPDATE_EVENT: Final = "sektorhub-medication-update-message"
EVENTS: Final = frozenset({DISCHARGE_LETTER_EVENT, REFERRAL_EVENT, MEDICATION_UPDATE_EVENT})

# the canonical URLs of the profiles and MessageDefinitions end in these prefixes' names
PROFILES: Final = "http://sektorhub.dk/fhir/StructureDefinition/"
MESSAGE_DEFINITIONS: Final = "http://sektorhub.dk/fhir/MessageDefinition/"
