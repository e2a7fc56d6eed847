"""FHIRPath criteria: compiled once per expression."""

from __future__ import annotations

from hub.route.criteria import compile_criteria


def test_criteria_compile_once_per_expression() -> None:
    expression = "Bundle.entry.resource.ofType(Patient).exists()"
    assert compile_criteria(expression) is compile_criteria(expression)
