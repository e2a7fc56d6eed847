"""The JSON object model written as FHIR XML: definition order, attributes, escapes, and what XML cannot carry."""

from __future__ import annotations

from typing import Any

import pytest

from hub.fhirxml import jsontext
from hub.fhirxml.reader import read_xml
from hub.fhirxml.writer import XmlNotWritable, write_xml

HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


def written(document: dict[str, Any]) -> str:
    return write_xml(document).decode()


def test_elements_in_definition_order_with_attributes_where_xml_has_them() -> None:
    patient = {
        "gender": "female",
        "name": [{"given": ["A", None], "_given": [None, {"id": "g"}], "family": "B", "id": "n"}],
        "_birthDate": {"extension": [{"valueBoolean": True, "url": "http://example.org/e"}]},
        "id": "p",
        "resourceType": "Patient",
        "multipleBirthInteger": jsontext.Number("2"),
    }
    assert written(patient) == (
        f'{HEAD}<Patient xmlns="http://hl7.org/fhir"><id value="p"/>'
        '<name id="n"><family value="B"/><given value="A"/><given id="g"/></name><gender value="female"/>'
        '<birthDate><extension url="http://example.org/e"><valueBoolean value="true"/></extension></birthDate>'
        '<multipleBirthInteger value="2"/></Patient>'
    )


def test_values_are_escaped_so_that_they_read_back_the_same() -> None:
    basic = {"resourceType": "Basic", "id": "x", "implicitRules": 'a<b>&"c"\n\td\r'}
    assert 'value="a&lt;b&gt;&amp;&quot;c&quot;&#10;&#9;d&#13;"' in written(basic)
    assert read_xml(write_xml(basic)).document == basic


def test_pretty_is_one_element_a_line() -> None:
    assert write_xml({"resourceType": "Basic", "id": "x"}, pretty=True).decode() == (
        f'{HEAD}\n<Basic xmlns="http://hl7.org/fhir">\n  <id value="x"/>\n</Basic>\n'
    )


@pytest.mark.parametrize(
    ("document", "says", "where"),
    [
        ({"resourceType": "Basic", "colour": "red"}, "Basic has no element colour", "Basic.colour"),
        ({"resourceType": "Basic", "id": "a\x01"}, "XML 1.0 cannot carry", "Basic.id"),
        ({"resourceType": "Thing"}, "not a FHIR resource", "resourceType"),
        (
            {"resourceType": "Basic", "text": {"status": "generated", "div": "<div><p></div>"}},
            "not well-formed XHTML",
            "Basic.text.div",
        ),
        ({"resourceType": "Bundle", "entry": [{"resource": {"id": "x"}}]}, "resourceType", "Bundle.entry[0].resource"),
        ({"resourceType": "Basic", "code": "text"}, "JSON object", "Basic.code"),
        ({"resourceType": "Basic", "_id": {"colour": "x"}}, "no element colour", "Basic.id.colour"),
    ],
)
def test_what_xml_cannot_carry_is_named_at_its_fhirpath(document: dict[str, Any], says: str, where: str) -> None:
    with pytest.raises(XmlNotWritable) as caught:
        write_xml(document)
    assert says in caught.value.diagnostics
    assert caught.value.expression == where
