"""XML validated with the JSON rules, its issues placed in the XML; JSON as it is; unreadable XML rejected."""

from __future__ import annotations

import orjson

from hub.fhirxml import jsontext
from hub.fhirxml.convert import document_of, in_format, json_text
from hub.fhirxml.media import FhirFormat
from hub.fhirxml.validation import validate_any_format
from hub.fhirxml.writer import write_xml
from hub.validate.pool import InProcess
from hub.validate.validator import Validator
from tests.medcom_examples import medcom_example_messages

EXAMPLE = next(p for p in medcom_example_messages() if "a5e5b880" in p.name).read_bytes()


def xml_of(raw: bytes) -> bytes:
    return write_xml(jsontext.loads(raw), pretty=True)


async def test_xml_gets_the_verdict_json_gets_at_the_xml_places() -> None:
    validation = InProcess(Validator())
    bundle = jsontext.loads(EXAMPLE)
    bundle["type"] = "messages"
    bad_json = jsontext.dumps(bundle)
    bad_xml = xml_of(bad_json)
    declared = (bad_xml, "application/fhir+xml")
    verdicts = await validate_any_format(validation, [(EXAMPLE, None), declared, (bad_json, None), (b"<x", None)])
    good, from_xml, from_json, unreadable = verdicts
    assert good.valid
    assert [i.expression for i in from_xml.issues] == [i.expression for i in from_json.issues] == ["Bundle.type"]
    line = next(n for n, text in enumerate(bad_xml.decode().splitlines(), 1) if 'value="messages"' in text)
    assert (from_xml.issues[0].line, from_xml.issues[0].column) == (line, 3)
    assert from_xml.facts == from_json.facts and from_xml.bundle == from_json.bundle
    assert not unreadable.valid and unreadable.facts is None
    assert "not well-formed" in unreadable.issues[0].diagnostics


def test_conversions_for_the_hub_stages() -> None:
    xml = in_format(EXAMPLE, FhirFormat.XML)
    assert in_format(EXAMPLE, FhirFormat.JSON) is EXAMPLE and in_format(xml, FhirFormat.XML) is xml
    assert document_of(xml) == document_of(EXAMPLE) == orjson.loads(EXAMPLE)
    assert jsontext.loads(json_text(xml)) == jsontext.loads(EXAMPLE)
