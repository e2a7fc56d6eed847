"""Translations from what hospital systems speak today (HL7 v2 ADT, ...) into MedCom FHIR messages.

Mappings are pure, data-driven functions; connectors call them and publish the result.
"""
