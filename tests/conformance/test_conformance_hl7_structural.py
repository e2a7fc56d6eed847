"""The 74 HL7 structural validator cases (R4): at least 40 of the 43 invalid rejected, none of the 31 valid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.validate.core import Options, validate_json
from hub.validate.rules import load_rules
from hub.validate.validator import SCHEMAS_DIR

CASES_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "fhir-test-cases" / "validator-r4"
MANIFEST = CASES_DIR / "manifest-r4-structural.json"
pytestmark = pytest.mark.skipif(not MANIFEST.exists(), reason="../shared/fhir-test-cases is not present")


def _options(entry: dict[str, Any]) -> Options:
    """The manifest's per-case switches (they change the expected result), as the hub's options."""
    return Options(
        security_checks=bool(entry.get("security-checks")),
        no_html_in_markdown=bool(entry.get("noHtmlInMarkdown")),
        allow_example_urls=bool(entry.get("examples", True)),
        check_contained=entry.get("validateContains") != "IGNORE",
        resolve_references=bool(entry.get("validateReference")),
    )


def test_hl7_structural_cases() -> None:
    rules = load_rules(SCHEMAS_DIR.resolve())
    cases = json.loads(MANIFEST.read_bytes())["cases"]
    rejected_invalid = accepted_valid = invalid = valid = 0
    misses: list[str] = []
    for case in cases:
        raw = (CASES_DIR / case["file"]).read_bytes()
        errors = [i for i in validate_json(raw, rules, options=_options(case["manifest_entry"])) if i.is_error]
        if case["expected"]["valid"]:
            valid += 1
            accepted_valid += not errors
            if errors:
                misses.append(f"valid case rejected: {case['name']}: {errors[0].expression} {errors[0].diagnostics}")
        else:
            invalid += 1
            rejected_invalid += bool(errors)
            if not errors:
                expected = case["expected"]["errors"][0] if case["expected"]["errors"] else {}
                misses.append(f"invalid case accepted: {case['name']}: expected {expected.get('text', '')[:160]}")
    print(f"\nHL7 structural: rejected {rejected_invalid}/{invalid} invalid, accepted {accepted_valid}/{valid} valid")
    for miss in misses:
        print("  miss:", miss)
    assert (invalid, valid) == (43, 31)
    assert accepted_valid == valid, misses
    assert rejected_invalid >= 40, misses
