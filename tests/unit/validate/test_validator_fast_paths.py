"""Shortcuts on the serialised JSON find what a walk over the parsed JSON finds: nesting depth, references."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.validate.envelope import _bracket_depth
from hub.validate.messaging import _all_reference_strings, _reference_strings

# strings with the characters that matter to the shortcuts: quotes, backslashes, brackets, the member name
TEXT = st.text(alphabet=st.sampled_from(['"', "\\", "{", "}", "[", "]", ":", ",", "a", "é", "\n", "\x01"]), max_size=8)
TEXT = TEXT | st.sampled_from(["reference", '"reference":"', '}a":"reference', "\\u0022"])
SCALARS = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False, allow_infinity=False) | TEXT
KEYS = TEXT | st.sampled_from(["reference", "x"])
JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=30
)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(KEYS, JSON, max_size=4), st.sampled_from([None, 1, 2]))
def test_bracket_depth_is_the_nesting_depth(document: dict[str, Any], indent: int | None) -> None:
    for raw in (orjson.dumps(document), json.dumps(document, indent=indent, ensure_ascii=indent == 1).encode()):
        assert _bracket_depth(raw, 100) == _depth(document)
        assert _bracket_depth(raw, 1) == min(_depth(document), 2)  # it stops counting past the limit


def test_bracket_depth_of_a_deep_document() -> None:
    raw = b'{"a":' * 150 + b"1" + b"}" * 150
    assert _bracket_depth(raw, 100) == 101
    assert _bracket_depth(b'{"a":"{{{{[[[[","b":[{"c":"]]]]}}}}"}]}', 100) == 3


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(KEYS, JSON, max_size=4), TEXT)
def test_reference_strings_found_in_the_text_are_those_of_the_walk(document: dict[str, Any], reference: str) -> None:
    document = {**document, "nested": [{"reference": reference}, {"reference": 5}]}
    found = _all_reference_strings(document)
    assert found is not None
    assert Counter(found) == Counter(_reference_strings(document))


def test_reference_strings_of_content_orjson_cannot_serialise() -> None:
    document: dict[Any, Any] = {1: {"reference": "a"}}  # an int key: not a JSON object
    assert _all_reference_strings(document) is None  # the walk then finds them


PRIMITIVE_SAMPLES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2**31,
    -(2**31) - 1,
    1.5,
    1e300,
    float("inf"),
    float("nan"),
    [],
    {},
    ["a"],
    "",
    " ",
    "a",
    "a b",
    "a  b",
    " a",
    "a\tb",
    "a\u00a0b",
    "<b>",
    "x<script>",
    "1",
    "1.5",
    "-0",
    "01",
    "true",
    "2024",
    "2024-02",
    "2024-02-29",
    "2023-02-29",
    "2024-04-31",
    "2024-01-01T10:00:00",
    "2024-01-01T10:00:00Z",
    "2024-01-01T10:00:00+01:00",
    "2024-01-01T24:00:00Z",
    "10:00:00",
    "urn:oid:1.2.3",
    "urn:uuid:" + "a" * 36,
    "urn:uuid:123e4567-e89b-12d3-a456-426614174000",
    "abc-12.3",
    "A" * 65,
    "http://x.org/a b",
    "ü",
    "\x01",
    "aGVsbG8=",
    "x" * (1024 * 1024 + 1),
]


def test_a_quick_acceptance_is_never_wrong() -> None:
    """ElementRule.accept lets a value skip the checks only where they would find nothing (nor HTML tags)."""
    from hub.validate.rules import PRIMITIVE
    from hub.validate.validator import Validator

    rules = Validator().rules
    seen = set()
    for type_rule in rules.types.values():
        for rule in type_rule.elements.values():
            if rule.kind != PRIMITIVE or rule.accept is None or (rule.type, rule.codes is None) in seen:
                continue
            seen.add((rule.type, rule.codes is None))
            for value in [*PRIMITIVE_SAMPLES, *sorted(rule.codes or ())[:5]]:
                if rule.accept(value):
                    assert rule.check is not None and rule.check(value) is None, (rule.type, value)
                    assert not (rule.text and "<" in value), (rule.type, value)
                    assert rule.codes is None or value in rule.codes, (rule.type, value)
    assert {name for name, _ in seen} >= {"string", "code", "uri", "id", "dateTime", "boolean", "decimal"}
