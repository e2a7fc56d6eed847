"""FHIR XML read into the JSON object model by the rules of the XML format, and refused when it is not FHIR XML
(or hostile), with the fault's line and column."""

from __future__ import annotations

from typing import Any

import pytest

from hub.fhirxml.jsontext import Number
from hub.fhirxml.reader import XmlRefused, read_xml

NS = 'xmlns="http://hl7.org/fhir"'


def read(text: str, **options: Any) -> dict[str, Any]:
    return read_xml(text.encode(), **options).document


def refused(raw: bytes | str) -> XmlRefused:
    with pytest.raises(XmlRefused) as caught:
        read_xml(raw.encode() if isinstance(raw, str) else raw)
    return caught.value


def test_primitives_their_extensions_and_arrays_by_definition() -> None:
    patient = read(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment is not content -->
<Patient {NS} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="x">
  <id value="p1"/>
  <active value="true"/>
  <name id="n1">
    <given value="Anna"/>
    <given><extension url="http://example.org/e"><valueString value="x"/></extension></given>
  </name>
  <birthDate id="b" value="1970-01-01"><extension url="http://example.org/t"><valueTime value="10:00:00"/>
  </extension></birthDate>
  <multipleBirthInteger value="2"/>
</Patient>"""
    )
    assert patient == {
        "resourceType": "Patient",
        "id": "p1",
        "active": True,
        "name": [
            {
                "id": "n1",
                "given": ["Anna", None],
                "_given": [None, {"extension": [{"url": "http://example.org/e", "valueString": "x"}]}],
            }
        ],
        "birthDate": "1970-01-01",
        "_birthDate": {"id": "b", "extension": [{"url": "http://example.org/t", "valueTime": "10:00:00"}]},
        "multipleBirthInteger": Number("2"),
    }


def test_decimals_keep_their_precision_and_bad_numbers_stay_strings_for_the_validator() -> None:
    observation = read(
        f'<Observation {NS}><valueQuantity><value value="1.50"/></valueQuantity>'
        f'<component><valueInteger value="01"/></component><component><valueBoolean value="yes"/></component>'
        "</Observation>"
    )
    assert observation["valueQuantity"] == {"value": Number("1.50")}
    assert observation["component"] == [{"valueInteger": "01"}, {"valueBoolean": "yes"}]


def test_the_narrative_is_the_xhtml_as_written() -> None:
    div = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Hello &amp; <b>bye</b>&#160;</p><br/></div>'
    basic = read(f'<Basic {NS}><text><status value="generated"/>{div}</text></Basic>')
    assert basic["text"] == {"status": "generated", "div": div}
    assert read(f'<Basic {NS}><text><div xmlns="http://www.w3.org/1999/xhtml"/></text></Basic>')["text"] == {
        "div": '<div xmlns="http://www.w3.org/1999/xhtml"/>'
    }


def test_resources_inside_resources() -> None:
    bundle = read(
        f"""<Bundle {NS}><type value="message"/>
  <entry><fullUrl value="urn:uuid:1"/><resource><Patient><id value="p"/>
    <contained><Organization><id value="o"/></Organization></contained></Patient></resource>
    <response><status value="201"/><outcome><OperationOutcome><issue><severity value="error"/></issue>
    </OperationOutcome></outcome></response></entry>
  <entry><resource><Parameters><parameter><name value="x"/><resource><Basic/></resource></parameter>
  </Parameters></resource></entry>
</Bundle>"""
    )
    assert bundle["entry"][0]["resource"] == {
        "resourceType": "Patient",
        "id": "p",
        "contained": [{"resourceType": "Organization", "id": "o"}],
    }
    assert bundle["entry"][0]["response"]["outcome"] == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error"}],
    }
    assert bundle["entry"][1]["resource"]["parameter"][0]["resource"] == {"resourceType": "Basic"}


def test_unknown_elements_keep_their_shape_for_the_validator_to_name() -> None:
    patient = read(
        f'<Patient {NS}><colour value="blue"/><pet><name value="a"/></pet><pet/><gender value="x"/></Patient>'
    )
    assert patient["colour"] == "blue"
    assert patient["pet"] == [{"name": "a"}, {}]
    assert patient["gender"] == "x"


def test_positions_of_the_paths_asked_for_and_their_ancestors() -> None:
    raw = f"<Bundle {NS}>\n  <entry>\n    <resource>\n"
    raw += "      <Patient><name><given value='æ'/><given value='b'/></name></Patient>\n"
    raw += "    </resource>\n  </entry>\n</Bundle>"
    found = read_xml(raw.encode(), locate=["Bundle.entry[0].resource.name[0].given[1]", "Bundle.entry[0].resource.x"])
    assert found.positions == {
        "Bundle": (1, 1),
        "Bundle.entry[0]": (2, 3),
        "Bundle.entry[0].resource": (3, 5),
        "Bundle.entry[0].resource.name[0]": (4, 16),
        "Bundle.entry[0].resource.name[0].given[1]": (4, 40),
    }


def test_an_element_given_twice_where_once_is_allowed_is_an_array_and_found_at_both() -> None:
    found = read_xml(
        f"<Patient {NS}><gender value='a'/><gender value='b'/></Patient>".encode(),
        locate=["Patient.gender[1]", "Patient.gender[0]"],
    )
    assert found.document["gender"] == ["a", "b"]
    assert found.positions["Patient.gender[0]"] == (1, 38)
    assert found.positions["Patient.gender[1]"] == (1, 57)


@pytest.mark.parametrize(
    ("raw", "code", "says", "place"),
    [
        ('<!DOCTYPE a [<!ENTITY e "x">]><Patient xmlns="http://hl7.org/fhir"/>', "security", "DOCTYPE", (1, 1)),
        ('<Patient xmlns="http://hl7.org/fhir"><id value="&e;"/></Patient>', "structure", "undefined entity", (1, 38)),
        ('<Patient xmlns="http://hl7.org/fhir">\n<id value="a">\n</Patient>', "structure", "mismatched tag", (3, 3)),
        ("<Patient/>", "structure", "not FHIR's", (1, 1)),
        ('<Thing xmlns="http://hl7.org/fhir"/>', "structure", "not a FHIR resource type", (1, 1)),
        (
            '<Patient xmlns="http://hl7.org/fhir">\n  <id value="a">x</id></Patient>',
            "structure",
            "text outside",
            (2, 17),
        ),
        (
            '<Patient xmlns="http://hl7.org/fhir"><id value="a" colour="b"/></Patient>',
            "structure",
            "attribute colour",
            (1, 38),
        ),
        ('<Patient xmlns="http://hl7.org/fhir" id="a"/>', "structure", "attribute id", (1, 1)),
        (
            '<Patient xmlns="http://hl7.org/fhir"><id value="a"><x/></id></Patient>',
            "structure",
            "only extension",
            (1, 52),
        ),
        (
            '<Patient xmlns="http://hl7.org/fhir"><x:id xmlns:x="urn:x"/></Patient>',
            "structure",
            "namespace urn:x",
            (1, 38),
        ),
        (
            '<Bundle xmlns="http://hl7.org/fhir"><entry><resource/></entry></Bundle>',
            "structure",
            "holds no resource",
            (1, 44),
        ),
        (
            '<Bundle xmlns="http://hl7.org/fhir"><entry><resource><Basic/><Basic/></resource></entry></Bundle>',
            "structure",
            "one resource",
            (1, 62),
        ),
        (
            '<?xml version="1.0" encoding="ISO-8859-1"?><Patient xmlns="http://hl7.org/fhir"/>',
            "structure",
            "UTF-8",
            (1, 1),
        ),
        (b'<Patient xmlns="http://hl7.org/fhir"><id value="\xe6"/></Patient>', "structure", "not well-formed", (1, 49)),
        ("", "structure", "no element found", (1, 1)),
        (
            '<Patient xmlns="http://hl7.org/fhir">' + "<extension>" * 101 + "</extension>" * 101 + "</Patient>",
            "too-costly",
            "nested more than 100",
            (1, 1127),
        ),
    ],
)
def test_what_is_not_fhir_xml_is_refused_where_it_is(
    raw: str | bytes, code: str, says: str, place: tuple[int, int]
) -> None:
    fault = refused(raw)
    assert fault.code == code
    assert says in fault.diagnostics
    assert (fault.line, fault.column) == place


def test_entity_expansion_never_happens() -> None:
    lol = '<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY a{i} "{"&a;" * 10 if i == 0 else f"&a{i - 1};" * 10}">' for i in range(9)
    )
    fault = refused(lol + ']><Patient xmlns="http://hl7.org/fhir"><id value="&a8;"/></Patient>')
    assert fault.code == "security"


def test_external_entities_are_never_read() -> None:
    fault = refused('<!DOCTYPE p SYSTEM "file:///etc/passwd"><Patient xmlns="http://hl7.org/fhir"/>')
    assert fault.code == "security"
