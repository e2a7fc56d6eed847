"""Sektor-hub: validates, routes, delivers and tracks MedCom FHIR messages between Danish health sectors."""

__version__ = "0.1.0"
