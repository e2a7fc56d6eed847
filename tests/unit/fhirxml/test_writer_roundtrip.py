"""JSON -> XML -> JSON gives the same resource for every official MedCom example and every R4 example in
../shared; and the MedCom examples published as FHIR XML read, and are written back element for element."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.fhirxml import jsontext
from hub.fhirxml.reader import read_xml
from hub.fhirxml.writer import write_xml
from tests.medcom_examples import MEDCOM_EXAMPLES, SHARED, medcom_example_messages

R4_EXAMPLES = SHARED / "fhir-test-cases" / "r4-examples"
NOT_EXAMPLES = {"index.json", "package.json"}  # the folder's listing and the package's manifest
# examples that cannot make the round trip, each with the reason; the count must never grow
CANNOT_ROUND_TRIP: dict[str, str] = {}
MEDCOM_XML = [MEDCOM_EXAMPLES / "ehmi-sbdh" / name for name in ("ehmiMessage.xml", "ehmiMessage_Ack.xml")]


def r4_examples() -> list[Path]:
    return sorted(p for p in R4_EXAMPLES.glob("*.json") if p.name not in NOT_EXAMPLES)


def test_every_example_is_here() -> None:
    assert len(r4_examples()) == 698
    assert len(medcom_example_messages()) == 25
    assert len(CANNOT_ROUND_TRIP) <= 0


def _round_trip(path: Path, *, pretty: bool) -> None:
    if path.name in CANNOT_ROUND_TRIP:
        pytest.xfail(CANNOT_ROUND_TRIP[path.name])
    document = jsontext.loads(path.read_bytes())
    xml = write_xml(document, pretty=pretty)
    assert read_xml(xml).document == document


@pytest.mark.parametrize("path", medcom_example_messages(), ids=lambda p: p.name)
def test_medcom_examples_round_trip(path: Path) -> None:
    _round_trip(path, pretty=True)


@pytest.mark.parametrize("path", r4_examples(), ids=lambda p: p.name)
def test_r4_examples_round_trip(path: Path) -> None:
    _round_trip(path, pretty=False)


def _tags(raw: bytes) -> list[bytes]:
    """The element names in document order, the narratives' XHTML left out."""
    without_xhtml = re.sub(rb"<div xmlns=.*?</div>\s*</text>", b"</text>", raw, flags=re.DOTALL)
    return re.findall(rb"<([A-Za-z]+)[ />]", without_xhtml)


@pytest.mark.parametrize("path", MEDCOM_XML, ids=lambda p: p.name)
def test_medcom_xml_examples_read_and_are_written_in_the_same_order(path: Path) -> None:
    raw = path.read_bytes()
    document = read_xml(raw).document
    assert document["resourceType"] == "Bundle" and document["type"] == "message"
    written = write_xml(document, pretty=True)
    assert _tags(written) == _tags(raw)
    assert read_xml(written).document == document
