"""Large attribute values are set aside while expat parses (linear time), with the same result and positions."""

from __future__ import annotations

import pytest

from hub.fhirxml.large_values import lines_and_columns, set_aside
from hub.fhirxml.reader import XmlRefused, read_xml

NS = 'xmlns="http://hl7.org/fhir"'


def both(raw: bytes, **options: object) -> tuple[object, object]:
    """The reading with every value of 8 bytes or more set aside, and the plain one."""
    return read_xml(raw, large_value_bytes=8, **options), read_xml(raw, large_value_bytes=10**9, **options)  # type: ignore[arg-type]


def test_the_same_document_and_positions_with_values_set_aside() -> None:
    raw = (
        f"<Binary {NS}><contentType value='application/pdf'/><data value=\"QUJD\n REVG\tR0g=\"/>"
        "<securityContext><reference value='Patient/æøå-0123456789'/></securityContext>\n"
        '<meta><tag><code value="x"/></tag></meta></Binary>'
    ).encode()
    wanted = ["Binary.securityContext.reference", "Binary.meta.tag[0].code", "Binary.data"]
    aside, plain = both(raw, locate=wanted)
    assert aside == plain
    assert aside.document["data"] == "QUJD  REVG R0g="  # type: ignore[attr-defined]  # normalised as XML does
    assert aside.positions["Binary.meta.tag[0].code"] == (3, 12)  # type: ignore[attr-defined]


def test_a_value_inside_the_narrative_is_restored_as_written() -> None:
    div = '<div xmlns="http://www.w3.org/1999/xhtml"><img src="data:image/png;base64,AAAAAAAAAAAAAAAA"/></div>'
    raw = f"<Basic {NS}><text><status value='generated'/>{div}</text></Basic>".encode()
    aside, plain = both(raw)
    assert aside == plain
    assert aside.document["text"]["div"] == div  # type: ignore[attr-defined]


def test_a_large_value_that_is_not_xml_text_is_refused_where_it_is() -> None:
    with pytest.raises(XmlRefused, match="not UTF-8") as caught:
        read_xml(f'<Binary {NS}>\n<data value="AAAAAAAA\xff"/></Binary>'.encode("latin-1"), large_value_bytes=8)
    assert (caught.value.line, caught.value.column) == (2, 22)
    with pytest.raises(XmlRefused, match="does not allow"):
        read_xml(f'<Binary {NS}><data value="AAAAAAAA\x01"/></Binary>'.encode(), large_value_bytes=8)


def test_nothing_is_set_aside_below_the_threshold() -> None:
    raw = b'<a b="short"/>'
    assert set_aside(raw) == (raw, set_aside(raw)[1])
    assert not set_aside(raw)[1].spans


def test_lines_and_columns_count_characters() -> None:
    raw = "ab\næøc\n\nd".encode()
    assert lines_and_columns(raw, [0, 2, 3, 7, 8, 10, 9]) == {
        0: (1, 1),
        2: (1, 3),
        3: (2, 1),
        7: (2, 3),
        8: (2, 4),
        9: (3, 1),
        10: (4, 1),
    }
