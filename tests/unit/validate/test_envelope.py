"""The envelope layer: size, BOM, UTF-8, JSON, nesting depth, a Bundle object at the top."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from hub.domain.outcome import Severity
from hub.validate.envelope import DEFAULT_MAX_DEPTH, UTF8_BOM, read_envelope

EXAMPLE = (
    Path(__file__).resolve().parents[3].parent
    / "shared/medcom/examples/carecommunication/Bundle-add5e7e2-0c0f-4a4a-bfff-f6f984fa7e3c.json"
)
LIMIT = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def raw() -> bytes:
    return EXAMPLE.read_bytes()


def _nested(depth: int) -> bytes:
    """A Bundle object whose deepest container is at `depth` (the Bundle itself is depth 1)."""
    return b'{"resourceType":"Bundle","x":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_a_message_parses(raw: bytes) -> None:
    envelope = read_envelope(raw, max_bytes=LIMIT)
    assert envelope.ok
    assert envelope.issues == ()
    assert envelope.document == orjson.loads(raw)


def test_a_utf8_bom_is_stripped(raw: bytes) -> None:
    envelope = read_envelope(UTF8_BOM + raw, max_bytes=LIMIT)
    assert envelope.ok
    assert envelope.document == orjson.loads(raw)


def test_bytearray_and_memoryview_are_bytes(raw: bytes) -> None:
    assert read_envelope(bytearray(raw), max_bytes=LIMIT).ok
    assert read_envelope(memoryview(raw), max_bytes=LIMIT).ok


def test_too_big_names_size_and_limit(raw: bytes) -> None:
    envelope = read_envelope(raw, max_bytes=len(raw) - 1)
    assert envelope.document is None
    [issue] = envelope.issues
    assert (issue.severity, issue.code) == (Severity.FATAL, "too-costly")
    assert str(len(raw)) in issue.diagnostics
    assert str(len(raw) - 1) in issue.diagnostics
    assert read_envelope(raw, max_bytes=len(raw)).ok


def test_invalid_utf8_names_the_byte_offset(raw: bytes) -> None:
    broken = raw[:100] + b"\xff" + raw[100:]
    [issue] = read_envelope(broken, max_bytes=LIMIT).issues
    assert issue.severity is Severity.FATAL
    assert "UTF-8" in issue.diagnostics
    assert "byte offset 100 " in issue.diagnostics
    # the offset counts from the start of the received bytes, BOM included
    [issue] = read_envelope(UTF8_BOM + broken, max_bytes=LIMIT).issues
    assert "byte offset 103 " in issue.diagnostics


def test_an_encoded_surrogate_is_invalid_utf8() -> None:
    [issue] = read_envelope(b'{"a":"\xed\xa0\x80"}', max_bytes=LIMIT).issues
    assert "byte offset 6 " in issue.diagnostics


def test_a_json_syntax_error_names_line_and_column() -> None:
    [issue] = read_envelope(b'{\n  "resourceType": "Bundle",\n  "id": }', max_bytes=LIMIT).issues
    assert issue.severity is Severity.FATAL
    assert issue.code == "structure"
    assert "not valid JSON" in issue.diagnostics
    assert "line 3 column 9" in issue.diagnostics


@pytest.mark.parametrize("raw", [b"", b"   \n", UTF8_BOM])
def test_empty_input(raw: bytes) -> None:
    [issue] = read_envelope(raw, max_bytes=LIMIT).issues
    assert "empty" in issue.diagnostics


@pytest.mark.parametrize(
    ("raw", "kind"), [(b"[1, 2]", "array"), (b'"Bundle"', "string"), (b"42", "number"), (b"null", "null")]
)
def test_not_an_object(raw: bytes, kind: str) -> None:
    envelope = read_envelope(raw, max_bytes=LIMIT)
    assert envelope.document is None
    [issue] = envelope.issues
    assert issue.severity is Severity.FATAL
    assert f"JSON {kind}" in issue.diagnostics


@pytest.mark.parametrize(
    ("raw", "found"),
    [(b'{"resourceType": "Patient"}', "'Patient'"), (b'{"type": "message"}', "no resourceType"), (b"{}", "no")],
)
def test_not_a_bundle(raw: bytes, found: str) -> None:
    envelope = read_envelope(raw, max_bytes=LIMIT)
    assert not envelope.ok
    assert envelope.document == orjson.loads(raw)  # parsed, so the caller can still read what it can
    [issue] = envelope.issues
    assert (issue.severity, issue.expression) == (Severity.FATAL, "Bundle")
    assert found in issue.diagnostics


def test_nesting_up_to_the_limit_is_fine() -> None:
    assert read_envelope(_nested(DEFAULT_MAX_DEPTH), max_bytes=LIMIT).ok


def test_nesting_beyond_the_limit_is_refused() -> None:
    envelope = read_envelope(_nested(DEFAULT_MAX_DEPTH + 1), max_bytes=LIMIT)
    assert not envelope.ok
    [issue] = envelope.issues
    assert (issue.severity, issue.code) == (Severity.FATAL, "too-costly")
    assert str(DEFAULT_MAX_DEPTH) in issue.diagnostics


def test_nesting_beyond_the_limit_names_the_place() -> None:
    [issue] = read_envelope(_nested(11), max_bytes=LIMIT, max_depth=10).issues
    assert issue.expression == "Bundle.x" + "[0]" * 9
    deep_object = b'{"resourceType":"Bundle","entry":[{"resource":{"a":{"b":{}}}}]}'
    [issue] = read_envelope(deep_object, max_bytes=LIMIT, max_depth=5).issues
    assert issue.expression == "Bundle.entry[0].resource.a.b"


def test_a_very_deep_place_is_shortened_to_an_ancestor() -> None:
    envelope = read_envelope(_nested(900), max_bytes=LIMIT, max_depth=800)
    [issue] = envelope.issues
    assert issue.expression is not None
    assert issue.expression.startswith("Bundle.x[0]")
    assert len(issue.expression) <= 300


def test_deeper_than_orjson_allows_is_a_json_error() -> None:
    [issue] = read_envelope(_nested(1100), max_bytes=LIMIT).issues
    assert issue.severity is Severity.FATAL
    assert "not valid JSON" in issue.diagnostics


def test_a_str_is_not_bytes() -> None:
    envelope = read_envelope('{"resourceType": "Bundle"}', max_bytes=LIMIT)
    assert envelope.document is None
    assert "expected the message as bytes" in envelope.issues[0].diagnostics
