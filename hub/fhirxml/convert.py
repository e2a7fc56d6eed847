"""The conversions the hub's stages need: a message in either FHIR format as FHIR JSON (to validate and read it)
and in the format a receiver takes (the original bytes when the formats match)."""

from __future__ import annotations

from typing import Any

import orjson

from hub.fhirxml import jsontext
from hub.fhirxml.media import FhirFormat, format_of
from hub.fhirxml.reader import read_xml
from hub.fhirxml.writer import write_xml


def json_text(raw: bytes, content_type: str | None = None) -> bytes:
    """The message as FHIR JSON text: JSON as it is, XML converted (numbers with their digits). Raises
    hub.fhirxml.reader.XmlRefused for XML that cannot be read."""
    if format_of(raw, content_type) is FhirFormat.JSON:
        return raw
    return jsontext.dumps(read_xml(raw).document)


def document_of(raw: bytes) -> Any:
    """The message as the JSON object model the hub reads (orjson's: numbers as int and float), from either
    format. Raises ValueError (orjson.JSONDecodeError, XmlRefused) when it is neither."""
    return orjson.loads(json_text(raw).removeprefix(b"\xef\xbb\xbf"))


def in_format(raw: bytes, wanted: FhirFormat) -> bytes:
    """The message in the `wanted` format: the original bytes when it is in it already, else converted.
    Raises ValueError (XmlRefused, XmlNotWritable, a JSON error) when it cannot be; the hub converts only
    messages it validated, so that is a fault of the hub, not of the sender."""
    if format_of(raw) is wanted:
        return raw
    if wanted is FhirFormat.JSON:
        return json_text(raw)
    document = jsontext.loads(raw)
    if not isinstance(document, dict):
        raise ValueError("the message is not a JSON object")
    return write_xml(document)
