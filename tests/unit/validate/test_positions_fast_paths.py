"""hub.validate.positions: the member skipper, the deep skip and the early end for texts without duplicate keys
find the very positions of the full token pass."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hub.validate import paths
from hub.validate.positions import locate
from tests.unit.validate.test_positions import DOCUMENTS, LAYOUTS, PROPERTY

ROOT = Path(__file__).resolve().parents[3]
DANISH = ROOT.parent / "shared" / "fhir-test-cases" / "messages" / "bundle-message-dk.json"
EXAMPLES = sorted((ROOT.parent / "shared" / "medcom" / "examples").glob("*/Bundle-*.json"))


def _paths(value: Any, parts: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [parts]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*parts, key)))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found.extend(_paths(child, (*parts, i)))
    return found


def _wanted(document: Any, rnd: random.Random, count: int) -> list[str]:
    """Some paths of the document, and some that are not in it (a missing key, an index past the end)."""
    places = _paths(document)
    chosen = [paths.from_parts(rnd.choice(places)) for _ in range(count)]
    chosen += [paths.from_parts(rnd.choice(places)) + ".missing", paths.from_parts(rnd.choice(places)) + "[99]"]
    return chosen


@PROPERTY
@given(DOCUMENTS, LAYOUTS, st.integers(0, 2**32))
def test_the_early_end_finds_what_the_full_pass_finds(
    document: dict[str, Any], layout: tuple[Any, tuple[str, str], bool], seed: int
) -> None:
    indent, separators, ascii_only = layout
    text = json.dumps(document, indent=indent, separators=separators, ensure_ascii=ascii_only).encode()
    rnd = random.Random(seed)
    for count in (1, 3, 8):
        wanted = _wanted(document, rnd, count)
        assert locate(text, wanted, unique_keys=True) == locate(text, wanted), wanted


def test_real_messages_give_the_same_positions_both_ways() -> None:
    files = [DANISH, *EXAMPLES]
    assert len(files) > 10
    rnd = random.Random(7)
    for path in files:
        raw = path.read_bytes()
        document = json.loads(raw)
        for count in (1, 2, 6, 20):
            wanted = _wanted(document, rnd, count)
            found = locate(raw, wanted, unique_keys=True)
            assert found == locate(raw, wanted), (path.name, wanted)
            assert all(position is not None for position in found)


def test_a_primitive_after_its_extension_part_is_still_preferred() -> None:
    # "_birthDate" alone does not settle Bundle.birthDate: the early end waits for "birthDate"
    text = b'{"_birthDate": {"id": "a"}, "other": [1, {"x": 2}], "birthDate": "2001"}'
    assert locate(text, ["Bundle.birthDate"], unique_keys=True) == [(1, text.index(b'"birthDate"') + 1)]


def test_members_with_escaped_keys_or_deep_values_are_passed_over_token_by_token() -> None:
    deep = json.dumps({"a": [[[[[[[[{"b": 1}]]]]]]]]})
    text = '{\n "\\u0061x": 1,\n "deep": ' + deep + ',\n "c\\"d": "}",\n "want": {"here": true},\n "after": 2\n}'
    assert json.loads(text)["want"] == {"here": True}
    expected = text.index('"here"')
    position = (text.count("\n", 0, expected) + 1, expected - text.rfind("\n", 0, expected))
    wanted = ["Bundle.want.here", "Bundle.ax", "Bundle.deep.a[0][0][0][0][0][0][0][0].b"]
    for unique in (False, True):
        found = locate(text.encode(), wanted, unique_keys=unique)
        assert found[0] == position
        assert found[1] == (2, 2)
        assert found[2] == (3, 10 + deep.index('"b"'))
