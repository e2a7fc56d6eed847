"""hub.validate.positions: the line and column in the original JSON text of each issue's element."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.validate import Validator, paths
from hub.validate.positions import locate, steps

ROOT = Path(__file__).resolve().parents[3]
CARE = (
    ROOT.parent
    / "shared"
    / "medcom"
    / "examples"
    / "carecommunication"
    / "Bundle-add5e7e2-0c0f-4a4a-bfff-f6f984fa7e3c.json"
)


def _at(text: str, needle: str, occurrence: int = 0) -> tuple[int, int]:
    """The (line, column) at which needle starts in text (its occurrence-th time), counted independently."""
    offset = -1
    for _ in range(occurrence + 1):
        offset = text.index(needle, offset + 1)
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


def _one(text: str | bytes, expression: str) -> tuple[int, int] | None:
    [found] = locate(text.encode() if isinstance(text, str) else text, [expression])
    return found


# --- the forms of expression --------------------------------------------------------------------------------

PRETTY = """{
  "resourceType": "Bundle",
  "type": "message",
  "entry": [
    {
      "fullUrl": "urn:uuid:1",
      "resource": {
        "resourceType": "MessageHeader",
        "eventCoding": {"system": "http://x", "code": "care-communication-message"},
        "destination": [{"endpoint": "a"}, {"endpoint": "b", "receiver": {"reference": "Organization/1"}}]
      }
    },
    {
      "resource": {
        "resourceType": "Patient",
        "name": [{"family": "Hansen", "given": ["Bo", "Ib"]}],
        "extension": [{"url": "http://y", "valueString": "v"}]
      }
    }
  ]
}
"""


@pytest.mark.parametrize(
    ("expression", "needle", "occurrence"),
    [
        ("Bundle", "{", 0),
        ("Bundle.type", '"type"', 0),
        ("Bundle.entry", '"entry"', 0),
        ("Bundle.entry[0]", "{", 1),
        ("Bundle.entry[0].resource", '"resource"', 0),
        ("Bundle.entry[0].resource.eventCoding.code", '"code"', 0),
        ("Bundle.entry[0].resource.destination[0]", '{"endpoint": "a"}', 0),
        ("Bundle.entry[0].resource.destination[1].receiver.reference", '"reference"', 0),
        ("Bundle.entry[1]", '{\n      "resource": {\n        "resourceType": "Patient"', 0),
        ("Bundle.entry[1].resource.name[0].family", '"family"', 0),
        ("Bundle.entry[1].resource.name[0].given", '"given"', 0),
        ("Bundle.entry[1].resource.name[0].given[1]", '"Ib"', 0),
        ("Bundle.entry[1].resource.extension[0].valueString", '"valueString"', 0),  # a choice type: its JSON name
    ],
)
def test_each_form_of_path_in_pretty_printed_json(expression: str, needle: str, occurrence: int) -> None:
    assert _one(PRETTY, expression) == _at(PRETTY, needle, occurrence)


def test_minified_json_is_one_line() -> None:
    minified = json.dumps(json.loads(PRETTY), separators=(",", ":"))
    assert _one(minified, "Bundle.entry[1].resource.name[0].given[1]") == (1, minified.index('"Ib"') + 1)
    assert _one(minified, "Bundle.entry[0].resource.destination[1]") == (1, minified.index('{"endpoint":"b"') + 1)


def test_hapi_style_spaces_before_colons() -> None:
    text = '{\n  "resourceType" : "Bundle",\n  "entry" : [ {\n    "resource" : { "id" : "1" }\n  } ]\n}'
    assert _one(text, "Bundle.entry[0].resource.id") == (4, 20)
    assert _one(text, "Bundle.entry[0]") == (3, 15)


def test_an_escaped_newline_in_a_string_does_not_start_a_line() -> None:
    text = '{\n  "a": "one\\ntwo\\nthree \\"quoted\\" \\\\", "b": {"c": "\\u00e6\\n"}, "d": 1\n}'
    assert _one(text, "Bundle.b.c") == _at(text, '"c"') == (2, 47)
    assert _one(text, "Bundle.d") == _at(text, '"d"')


def test_brackets_and_quotes_inside_strings_are_text() -> None:
    text = '{"a": "[{\\"x\\": 1}]", "b": ["]", "}", {"c": "{"}], "d": 1}'
    assert _one(text, "Bundle.b[2].c") == (1, text.index('"c"') + 1)
    assert _one(text, "Bundle.d") == (1, text.index('"d"') + 1)


def test_the_column_counts_characters_not_bytes() -> None:
    text = '{"navn": "Søren Ærø Å 💡", "given": ["Åse"], "x": 1}'
    assert _one(text, "Bundle.x") == (1, text.index('"x"') + 1)
    assert _one(text, "Bundle.given[0]") == (1, text.index('"Åse"') + 1)
    assert len(text.encode()) > len(text)


def test_a_key_that_is_no_identifier_is_spelled_with_backticks() -> None:
    text = '{"a b": {"ø": 1, "c`d": 2, "e\\"f": 3}}'
    for key in ("ø", "c`d", 'e"f'):
        expression = paths.from_parts(["a b", key])
        assert _one(text, expression) == (1, text.index(json.dumps(key, ensure_ascii=False)) + 1), expression


def test_a_primitive_and_its_extension_part() -> None:
    text = (
        '{"birthDate": "1970", "_birthDate": {"extension": [{"url": "u"}]},\n'
        ' "_given": [null, {"id": "g"}], "given": ["A", "B"]}'
    )
    assert _one(text, "Bundle.birthDate") == (1, 2)  # the value's key "birthDate", not "_birthDate"
    assert _one(text, "Bundle.birthDate.extension[0]") == _at(text, '{"url"')
    assert _one(text, "Bundle.given[1]") == _at(text, '"B"')
    assert _one(text, "Bundle.given[1].id") == _at(text, '"id"')
    assert _one('{"_birthDate": {"id": "x"}}', "Bundle.birthDate") == (1, 2)  # only the extension part


def test_a_duplicate_key_is_the_last_one_as_the_parser_keeps_it() -> None:
    text = '{"a": {"b": 1, "c": 2},\n "a": {"b": 3}}'
    assert orjson.loads(text) == {"a": {"b": 3}}
    assert _one(text, "Bundle.a") == (2, 2)
    assert _one(text, "Bundle.a.b") == (2, 8)
    assert _one(text, "Bundle.a.c") == (2, 2)  # gone with the first "a": at its parent


def test_a_missing_element_is_put_at_its_nearest_ancestor() -> None:
    assert _one(PRETTY, "Bundle.entry[0].resource.id") == _at(PRETTY, '"resource"')
    assert _one(PRETTY, "Bundle.entry[0].resource.destination[5].receiver") == _at(PRETTY, '"destination"')
    assert _one(PRETTY, "Bundle.entry[7]") == _at(PRETTY, '"entry"')
    assert _one(PRETTY, "Bundle.timestamp") == (1, 1)


def test_a_function_is_not_a_key() -> None:
    assert steps("Bundle.entry[0].resource.extension.where(url='x').value") == [".entry", 0, ".resource", ".extension"]
    assert _one(PRETTY, "Bundle.entry[1].resource.extension.where(url='x')") == _at(PRETTY, '"extension"')
    assert _one(PRETTY, "Bundle.entry[1].resource.exists()") == _at(PRETTY, '"resource"', 1)


def test_what_cannot_be_located() -> None:
    assert locate(b"", ["Bundle"]) == [None]
    assert locate(b'"just a string"', ["Bundle"]) == [None]
    assert locate(b"{}", [None, "", ".x", "[0]"]) == [None, None, None, None]
    assert locate(b"{}", []) == []


def test_root_array_and_trailing_text() -> None:
    assert locate(b'[1, {"a": 2}] {"a": 3}', ["Bundle[1].a", "Bundle.a"]) == [(1, 6), (1, 1)]


def test_a_byte_order_mark_is_not_a_column() -> None:
    assert _one(b'\xef\xbb\xbf{"a": 1}', "Bundle.a") == (1, 2)


def test_crlf_line_ends() -> None:
    text = PRETTY.replace("\n", "\r\n")
    assert _one(text, "Bundle.entry[1].resource.name[0].given[1]") == _at(PRETTY, '"Ib"')


def test_many_expressions_one_pass() -> None:
    expressions = ["Bundle.entry[1].resource.name[0].family", "Bundle", "Bundle.nothing", "Bundle.type"] * 50
    found = locate(PRETTY.encode(), expressions)
    assert found[:4] == [_at(PRETTY, '"family"'), (1, 1), (1, 1), _at(PRETTY, '"type"')]
    assert found == found[:4] * 50


# --- hostile input ------------------------------------------------------------------------------------------


def test_deep_nesting() -> None:
    depth = 10_000
    arrays = b'{"a": ' + b"[" * depth + b"]" * depth + b', "b": 1}'
    assert locate(arrays, ["Bundle.b", "Bundle.a" + "[0]" * (depth - 1)]) == [(1, depth * 2 + 9), (1, depth + 6)]
    objects = b'{"a": ' * depth + b"1" + b"}" * depth
    assert locate(objects, ["Bundle" + ".a" * 500]) == [(1, 499 * 6 + 2)]  # each level is '{"a": '


def test_huge_strings_and_keys() -> None:
    huge = "x" * 5_000_000
    text = json.dumps({"a": huge, huge: 1, "b": ["\\" * 1_000_000, 2]}).encode()
    assert locate(text, ["Bundle.b[1]", "Bundle.a"]) == [(1, len(text) - 2), (1, 2)]


def test_truncated_and_invalid_text() -> None:
    assert locate(b'{"a": {"b": "never closed', ["Bundle.a.b", "Bundle.a.c"]) == [(1, 8), (1, 2)]
    assert locate(b'{"a": [1, 2', ["Bundle.a[1]", "Bundle.a[5]"]) == [(1, 11), (1, 2)]
    assert locate(b'{"a": "\xff\xfe", "b": 1}', ["Bundle.b"]) == [(1, 13)]  # a replacement character each
    assert locate(b"}}]]{", ["Bundle"]) == [None]


def test_a_megabyte_message_is_fast() -> None:
    message = orjson.loads(CARE.read_bytes())
    extra = message["entry"][1:]
    while len(orjson.dumps(message)) < 1_000_000:
        message["entry"].extend(orjson.loads(orjson.dumps(extra)))
    raw = orjson.dumps(message, option=orjson.OPT_INDENT_2)
    expressions = [f"Bundle.entry[{i}].resource.meta.profile[0]" for i in range(1, len(message["entry"]), 3)]
    expressions = expressions[:200]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        found = locate(raw, expressions)
        best = min(best, time.perf_counter() - start)
    assert all(place is not None and place[0] > 1 for place in found)
    assert best < 0.5  # about 10 ms; generous for a loaded test machine, but no quadratic behaviour


# --- end to end: the validator ------------------------------------------------------------------------------

VALIDATOR = Validator()


def test_an_unknown_element_in_a_real_message() -> None:
    text = CARE.read_text()
    faulty = text.replace('"given" : ["Bruno"]', '"given" : ["Bruno"],\n        "nickname" : "Bru"', 1)
    verdict = VALIDATOR.validate(faulty.encode())
    [issue] = [issue for issue in verdict.issues if issue.expression == "Bundle.entry[1].resource.name[0].nickname"]
    assert (issue.line, issue.column) == _at(faulty, '"nickname"') == (70, 9)
    assert issue.as_dict()["line"] == 70


def test_a_bad_date_in_a_real_message() -> None:
    text = CARE.read_text()
    faulty = text.replace('"timestamp" : "2024-05-01T12:00:00+02:00"', '"timestamp" : "2024-13-01T12:00:00+02:00"', 1)
    assert faulty != text
    verdict = VALIDATOR.validate(faulty.encode())
    [issue] = [issue for issue in verdict.issues if issue.expression == "Bundle.timestamp"]
    assert issue.is_error
    assert (issue.line, issue.column) == _at(faulty, '"timestamp"') == (8, 3)


def test_a_fault_after_non_ascii_text_on_its_line() -> None:
    message = orjson.loads(CARE.read_bytes())
    organization = next(e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == "Organization")
    organization["name"] = "Hjerteafdelingen på Herlev og Gentofte hospital ✓"
    organization["kaldenavn"] = "Hjertet"
    text = orjson.dumps(message).decode()  # one line
    verdict = VALIDATOR.validate(text.encode())
    [issue] = [issue for issue in verdict.issues if (issue.expression or "").endswith(".kaldenavn")]
    assert (issue.line, issue.column) == (1, text.index('"kaldenavn"') + 1)


def test_a_missing_required_element_is_put_at_its_parent() -> None:
    message = orjson.loads(CARE.read_bytes())
    del message["entry"][0]["resource"]["eventCoding"]["code"]
    text = json.dumps(message, indent=2)
    verdict = VALIDATOR.validate(text.encode())
    faulted = [issue for issue in verdict.issues if issue.expression == "Bundle.entry[0].resource.eventCoding.code"]
    assert faulted
    assert all((issue.line, issue.column) == _at(text, '"eventCoding"') for issue in faulted)


def test_a_valid_message_has_no_positions_to_find() -> None:
    assert VALIDATOR.validate(CARE.read_bytes()).issues == ()


# --- properties ---------------------------------------------------------------------------------------------

KEYS = st.text(max_size=8) | st.sampled_from(["a", "_a", "valueString", "given", "x y", "ø", "a`b", "a\\b", "\n", '"'])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["", "[", "]{", '"', "\\", "\n", "æøå 💡", "\u2028"])
)


def _distinct_paths(value: dict[str, Any]) -> bool:
    """No two keys that name the same path step ("a" and "_a", long keys shortened alike)."""
    return len({paths.child("", key) for key in value}) == len(value)


VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4).filter(_distinct_paths),
    max_leaves=40,
)
DOCUMENTS = st.dictionaries(KEYS, VALUES, max_size=6).filter(_distinct_paths)
LAYOUTS = st.tuples(
    st.sampled_from([None, 0, 1, 2, 4, "\t"]),  # indent
    st.sampled_from([(", ", ": "), (",", ":"), (",", " : ")]),  # separators
    st.booleans(),  # ensure_ascii
)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _serialised(
    document: Any, indent: int | str | None, separators: tuple[str, str], ascii_only: bool
) -> tuple[str, dict[tuple[Any, ...], int]]:
    """The text json.dumps makes, written here again to note the offset at which each path begins."""
    out: list[str] = []
    size = 0
    offsets: dict[tuple[Any, ...], int] = {(): 0}
    step = " " * indent if isinstance(indent, int) else indent

    def emit(text: str) -> None:
        nonlocal size
        out.append(text)
        size += len(text)

    def newline(level: int) -> None:
        if step is not None:
            emit("\n" + step * level)

    def write(value: Any, path: tuple[Any, ...], level: int) -> None:
        if isinstance(value, dict) and value:
            emit("{")
            for n, (key, child) in enumerate(value.items()):
                if n:
                    emit(separators[0])
                newline(level + 1)
                offsets[(*path, key)] = size
                emit(json.dumps(key, ensure_ascii=ascii_only) + separators[1])
                write(child, (*path, key), level + 1)
            newline(level)
            emit("}")
        elif isinstance(value, list) and value:
            emit("[")
            for n, child in enumerate(value):
                if n:
                    emit(separators[0])
                newline(level + 1)
                offsets[(*path, n)] = size
                write(child, (*path, n), level + 1)
            newline(level)
            emit("]")
        else:
            emit(json.dumps(value, ensure_ascii=ascii_only))

    write(document, (), 0)
    return "".join(out), offsets


@PROPERTY
@given(DOCUMENTS, LAYOUTS, st.booleans())
def test_every_path_is_where_its_key_or_value_begins(
    document: dict[str, Any], layout: tuple[Any, tuple[str, str], bool], crlf: bool
) -> None:
    indent, separators, ascii_only = layout
    text, offsets = _serialised(document, indent, separators, ascii_only)
    assert text == json.dumps(document, indent=indent, separators=separators, ensure_ascii=ascii_only)
    places = list(offsets)
    expressions = [paths.from_parts(place) for place in places]
    if crlf:  # json.dumps writes no raw newline inside a string: each is a line end
        offsets = {place: offset + text.count("\n", 0, offset) for place, offset in offsets.items()}
        text = text.replace("\n", "\r\n")
    found = locate(text.encode(), expressions)
    for place, expression, position in zip(places, expressions, found, strict=True):
        offset = offsets[place]
        assert position == (text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)), expression
        if place and isinstance(place[-1], str):
            assert text.startswith(json.dumps(place[-1], ensure_ascii=ascii_only), offset)


@PROPERTY
@given(st.binary(max_size=400), st.lists(st.text(max_size=20) | st.sampled_from(["Bundle.a", "Bundle[0].b"])))
def test_any_bytes_and_expressions_never_raise(raw: bytes, expressions: list[str]) -> None:
    found = locate(raw, expressions)
    assert len(found) == len(expressions)
    lines = raw.count(b"\n") + 1
    assert all(place is None or (1 <= place[0] <= lines and place[1] >= 1) for place in found)


@PROPERTY
@given(st.text(alphabet='{}[]":,\\ \nab0_`.', max_size=200), st.lists(st.text(alphabet="Bundle.ab_[]0`", max_size=20)))
def test_json_like_junk_never_raises(text: str, expressions: list[str]) -> None:
    found = locate(text.encode(), expressions)
    assert len(found) == len(expressions)
    assert all(place is None or (place[0] >= 1 and place[1] >= 1) for place in found)
