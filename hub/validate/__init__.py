"""Validation of incoming messages: envelope, FHIR R4 structure, MedCom messaging rules."""

from hub.validate.validator import Validator, Verdict, verdict_line

__all__ = ["Validator", "Verdict", "verdict_line"]
