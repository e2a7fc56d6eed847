from __future__ import annotations

import pytest

from hub.fhirxml.media import FhirFormat, declared_format, format_of, media_type, sniffed_format


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/fhir+json", FhirFormat.JSON),
        ("application/json; charset=utf-8", FhirFormat.JSON),
        ("application/fhir+xml", FhirFormat.XML),
        ("Application/XML", FhirFormat.XML),
        ("text/xml;charset=UTF-8", FhirFormat.XML),
        ("text/plain", None),
        ("", None),
        (None, None),
    ],
)
def test_content_types(content_type: str | None, expected: FhirFormat | None) -> None:
    assert declared_format(content_type) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"resourceType": "Bundle"}', FhirFormat.JSON),
        (b"\xef\xbb\xbf \n<Bundle/>", FhirFormat.XML),
        (b'<?xml version="1.0"?><Bundle/>', FhirFormat.XML),
        (b"", FhirFormat.JSON),
        (b"garbage", FhirFormat.JSON),
    ],
)
def test_undeclared_bytes_are_told_by_their_first_character(raw: bytes, expected: FhirFormat) -> None:
    assert sniffed_format(raw) == expected


def test_a_declared_format_wins() -> None:
    assert format_of(b"{}", "application/fhir+xml") is FhirFormat.XML
    assert format_of(b"<a/>", "text/plain") is FhirFormat.XML
    assert media_type(" Application/FHIR+XML ; q=1") == "application/fhir+xml"
