"""Which FHIR format a body is in: the media types the hub takes, and the format of bytes without one."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class FhirFormat(StrEnum):
    JSON = "json"
    XML = "xml"


FHIR_JSON: Final = "application/fhir+json"
FHIR_XML: Final = "application/fhir+xml"
MEDIA_TYPES: Final = {FhirFormat.JSON: FHIR_JSON, FhirFormat.XML: FHIR_XML}
# what each Content-Type is read as (FHIR's http page: the generic XML and JSON types mean the FHIR formats)
ACCEPTED: Final = {
    FHIR_JSON: FhirFormat.JSON,
    "application/json": FhirFormat.JSON,
    FHIR_XML: FhirFormat.XML,
    "application/xml": FhirFormat.XML,
    "text/xml": FhirFormat.XML,
}
_BLANK = b" \t\r\n"


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, lower case, without its parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def declared_format(content_type: str | None) -> FhirFormat | None:
    """The format a Content-Type names, None when it names neither FHIR format."""
    return ACCEPTED.get(media_type(content_type))


def sniffed_format(raw: bytes) -> FhirFormat:
    """The format of bytes nobody declared: XML when the first character (after a byte-order mark and blanks)
    is ``<``, else JSON. A FHIR JSON resource starts with ``{``, FHIR XML with ``<``, so the two never mix."""
    head = raw[:4096].removeprefix(b"\xef\xbb\xbf").lstrip(_BLANK)
    return FhirFormat.XML if head.startswith(b"<") else FhirFormat.JSON


def format_of(raw: bytes, content_type: str | None = None) -> FhirFormat:
    """The declared format, else the sniffed one."""
    return declared_format(content_type) or sniffed_format(raw)
