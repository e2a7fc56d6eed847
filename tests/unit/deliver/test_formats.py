"""A receiver gets the original bytes in its own format, else a faithful conversion."""

from __future__ import annotations

import pytest

from hub.deliver.formats import NotConvertible, body_for
from hub.fhirxml.convert import document_of
from hub.fhirxml.media import FhirFormat

JSON = b'{"resourceType": "Basic", "id": "b1"}'
XML = b'<?xml version="1.0"?>\n<Basic xmlns="http://hl7.org/fhir">\n  <id value="b1"/>\n</Basic>'


@pytest.mark.parametrize("raw", [JSON, XML])
def test_the_original_when_the_formats_match_else_converted(raw: bytes) -> None:
    same = FhirFormat.XML if raw is XML else FhirFormat.JSON
    other = FhirFormat.JSON if raw is XML else FhirFormat.XML
    assert body_for(raw, same).content is raw
    converted = body_for(raw, other)
    assert converted.media_type == f"application/fhir+{other}"
    assert document_of(converted.content) == document_of(raw)


def test_what_cannot_be_converted_is_named() -> None:
    with pytest.raises(NotConvertible, match="FHIR JSON"):
        body_for(b"<Basic/>", FhirFormat.JSON)
