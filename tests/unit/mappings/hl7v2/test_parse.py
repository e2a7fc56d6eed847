"""The HL7 v2 parser: delimiters, addressing, separators, escape sequences, character sets."""

from __future__ import annotations

import pytest

from mappings.hl7v2.parse import (
    Delimiters,
    Hl7ParseError,
    decode_message,
    escape,
    parse_message,
    split_segments,
    unescape,
)
from tests.unit.mappings.hl7v2.adt_samples import CPR, adt


def test_fields_components_and_repetitions_are_addressed_as_hl7_numbers_them() -> None:
    message = parse_message(adt("A01"))
    assert message.get("MSH-1") == "|"
    assert message.get("MSH-2") == "^~\\&"
    assert message.get("MSH-3") == "SP"
    assert message.get("MSH-3.2") == "Sundhedsplatformen"
    assert message.get("MSH-9") == "ADT"
    assert message.get("MSH-9.2") == "A01"
    assert message.control_id == "SP-000184311"
    assert message.message_type == ("ADT", "A01")
    assert message.get("PID-5") == "Sørensen"
    assert message.get("PID-5.2") == "Anne"
    assert message.get("PV1-44") == "202405061342"
    assert message.get("PV1-99") == ""
    assert message.get("ZZZ-1") == ""
    pid = message.segment("PID")
    assert pid is not None
    repetitions = pid.repetitions(3)
    assert [rep[0][0] for rep in repetitions] == [CPR, "4711093"]
    assert repetitions[0][3] == ["CPR"]
    assert pid.value(3, 1, repetition=2) == "4711093"


def test_the_trigger_falls_back_to_evn_1_for_old_versions() -> None:
    text = adt("A03").replace("ADT^A03^ADT_A01", "ADT")
    assert parse_message(text).message_type == ("ADT", "A03")


@pytest.mark.parametrize("separator", ["\r", "\n", "\r\n"])
def test_every_usual_segment_separator_is_read(separator: str) -> None:
    message = parse_message(adt("A01", separator=separator))
    assert [segment.name for segment in message.segments] == ["MSH", "EVN", "PID", "PV1"]
    assert message.get("PV1-19") == "V2024-0042117"


def test_blank_lines_and_a_byte_order_mark_are_ignored() -> None:
    text = "\ufeff" + adt("A01").replace("\r", "\r\n\r\n")
    assert len(parse_message(text).segments) == 4
    assert split_segments("\n\nA\r\n\rB\n") == ["A", "B"]


def test_escape_sequences_are_resolved_after_splitting() -> None:
    text = adt("A01", name="Holm\\F\\Berg\\S\\x\\T\\y\\R\\z\\E\\^S\\XC3B8\\ren^Bo\\.br\\Ib\\H\\!\\N\\")
    pid = parse_message(text).segment("PID")
    assert pid is not None
    assert pid.value(5, 1) == "Holm|Berg^x&y~z\\"
    assert pid.value(5, 2) == "Søren"
    assert pid.value(5, 3) == "Bo\nIb!"


@pytest.mark.parametrize(
    ("escaped", "plain"),
    [
        ("a\\F\\b", "a|b"),
        ("\\X41424344\\", "ABCD"),
        ("\\Cxxyy\\text\\M112233\\", "text"),
        ("\\Zlocal\\x", "x"),
        ("unterminated \\F", "unterminated \\F"),
        ("lone \\ backslash \\", "lone \\ backslash \\"),
        ("no escapes", "no escapes"),
    ],
)
def test_unescape(escaped: str, plain: str) -> None:
    assert unescape(escaped) == plain


def test_escape_round_trips_every_delimiter() -> None:
    text = "a|b^c&d~e\\f\r\ng"
    escaped = escape(text)
    assert not any(c in escaped for c in "|^&~\r\n")
    assert unescape(escaped) == "a|b^c&d~e\\f\ng"


def test_other_delimiters_are_read_from_msh_1_and_msh_2() -> None:
    text = adt("A01").replace("|", "#").replace("^~\\&", "$*!@", 1).replace("^", "$").replace("\\&", "!@")
    message = parse_message(text)
    assert message.delimiters == Delimiters("#", "$", "*", "!", "@")
    assert message.get("MSH-9.2") == "A01"
    assert message.get("PID-5.2") == "Anne"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "MSH: the message is empty"),
        ("PID|1||123\r", "MSH: the message does not start with an MSH segment"),
        ("MSH|^~\r", "MSH-2: the encoding characters"),
        ("MSH|^~\\\\|x\r", "MSH-1/MSH-2"),
        ("MSH|^~\\&|A\rpid|1\r", "segment 2"),
        ("MSH|^~\\&|A\rMSH|^~\\&|B\r", "a second MSH"),
    ],
)
def test_what_is_not_hl7_is_refused_with_the_place(text: str, expected: str) -> None:
    with pytest.raises(Hl7ParseError, match=expected):
        parse_message(text)


def test_bytes_are_read_in_the_declared_character_set() -> None:
    latin = adt("A01", charset="8859/1").encode("latin-1")
    assert parse_message(decode_message(latin)).get("PID-5") == "Sørensen"
    utf8 = adt("A01").encode("utf-8")
    assert parse_message(decode_message(utf8)).get("PID-5") == "Sørensen"


def test_undeclared_bytes_are_utf8_else_latin1() -> None:
    text = adt("A01", charset="")
    assert parse_message(decode_message(text.encode("utf-8"))).get("PID-5") == "Sørensen"
    assert parse_message(decode_message(text.encode("latin-1"))).get("PID-5") == "Sørensen"


def test_bytes_that_do_not_fit_the_declared_charset_are_refused() -> None:
    with pytest.raises(Hl7ParseError, match="MSH-18"):
        decode_message(adt("A01", charset="UNICODE UTF-8").encode("latin-1"))


def test_hex_escapes_use_the_message_charset() -> None:
    text = adt("A01", charset="8859/1", name="S\\XF8\\rensen")
    assert parse_message(text).get("PID-5") == "Sørensen"
