"""FHIRPath criteria: compiled once per expression."""

from __future__ import annotations

from hub.route.criteria import TrialMessage, compile_criteria, trial_problem


def test_criteria_compile_once_per_expression() -> None:
    expression = "Bundle.entry.resource.ofType(Patient).exists()"
    assert compile_criteria(expression) is compile_criteria(expression)


def test_a_trial_names_the_message_a_criterion_fails_on_or_yields_no_boolean_on() -> None:
    messages = [
        TrialMessage("empty", {"resourceType": "Bundle", "type": "message", "entry": []}),
        TrialMessage("stamped", {"resourceType": "Bundle", "type": "message", "timestamp": "2024-05-08T10:31:00Z"}),
    ]
    failing = trial_problem(compile_criteria("Bundle.timestamp > 5"), messages)
    assert failing is not None and failing.startswith("fails on the trial message stamped: ")
    text = trial_problem(compile_criteria("Bundle.type"), messages)
    assert text is not None and text.startswith("yields a str ('message') on the trial message empty; ")
    several = trial_problem(compile_criteria("Bundle.type | Bundle.timestamp.exists()"), messages)
    assert several is not None and "yields a str ('message'), a bool ('False')" in several
    assert trial_problem(compile_criteria("Bundle.timestamp > @2020-01-01"), messages) is None  # nothing, then true
    assert trial_problem(compile_criteria("Bundle.timestamp > 5"), []) is None
