"""HL7 v2 ADT messages -> MedCom HospitalNotification messages.

`parse` reads HL7 v2 (ER7) messages; `rules` is the event table; `adt_to_notification.map_adt` maps one
message. See `adt_to_notification` for the fields a sending hospital must fill.
"""

from mappings.hl7v2.adt_to_notification import MappingResult, Problem, map_adt
from mappings.hl7v2.parse import Hl7ParseError, Message, decode_message, parse_message

__all__ = ["Hl7ParseError", "MappingResult", "Message", "Problem", "decode_message", "map_adt", "parse_message"]
