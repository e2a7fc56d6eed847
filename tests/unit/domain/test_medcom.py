"""MedCom's acknowledgement issue-details codes as the hub defines them: exactly those of the shipped CodeSystem."""

from __future__ import annotations

import orjson

from hub.domain import medcom
from hub.settings import SCHEMAS_DIR

CODE_SYSTEM = SCHEMAS_DIR / "medcom" / "CodeSystem-medcom-acknowledgement-error-codes.json"


def test_the_acknowledgement_error_codes_are_the_shipped_codesystems_codes_and_displays() -> None:
    document = orjson.loads(CODE_SYSTEM.read_bytes())
    assert document["resourceType"] == "CodeSystem"
    assert document["url"] == medcom.ACKNOWLEDGEMENT_ERROR_CODE_SYSTEM
    assert document["content"] == "complete"
    shipped = {concept["code"]: concept["display"] for concept in document["concept"]}
    assert shipped == medcom.ACKNOWLEDGEMENT_ERROR_DISPLAYS


def test_each_code_constant_is_a_code_of_the_codesystem() -> None:
    constants = {
        medcom.RECEIVER_IDENTIFIER_UNKNOWN,
        medcom.RECEIVER_IDENTIFIER_MISSING,
        medcom.RECEIVER_UNABLE_TO_RECEIVE_MESSAGE_TYPE,
        medcom.VALUESET_VALUE_UNKNOWN,
        medcom.CODESYSTEM_VALUE_UNKNOWN,
        medcom.ELEMENT_TOO_LONG,
        medcom.DATATYPE_WRONG,
        medcom.MAILBOX_OUT_OF_OPERATION,
        medcom.DAMAGED_DURING_TRANSPORT,
    }
    assert constants == set(medcom.ACKNOWLEDGEMENT_ERROR_DISPLAYS)
