"""Codes of HL7 v2 acknowledgements: what the ACK's MSA-1 says, and the error conditions its ERR-3 reports.

The one place the hub defines them: the ADT mapping (mappings.hl7v2), the MLLP connector and the simulated
hospitals import them from here.
"""

from typing import Final

# MSA-1 acknowledgement code (HL7 table 0008), original acknowledgement mode
APPLICATION_ACCEPT: Final = "AA"
APPLICATION_ERROR: Final = "AE"
APPLICATION_REJECT: Final = "AR"

# ERR-3 message error condition code (HL7 table 0357)
SEGMENT_SEQUENCE_ERROR: Final = "100"
REQUIRED_FIELD_MISSING: Final = "101"
DATA_TYPE_ERROR: Final = "102"
TABLE_VALUE_NOT_FOUND: Final = "103"
UNSUPPORTED_MESSAGE_TYPE: Final = "200"
UNSUPPORTED_EVENT_CODE: Final = "201"
UNSUPPORTED_PROCESSING_ID: Final = "202"
UNSUPPORTED_VERSION_ID: Final = "203"
UNKNOWN_KEY_IDENTIFIER: Final = "204"
APPLICATION_INTERNAL_ERROR: Final = "207"
# their names in table 0357, as ERR-3.2 writes them
ERROR_CONDITIONS: Final = {
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    UNSUPPORTED_VERSION_ID: "Unsupported version id",
    UNKNOWN_KEY_IDENTIFIER: "Unknown key identifier",
    APPLICATION_INTERNAL_ERROR: "Application internal error",
}
