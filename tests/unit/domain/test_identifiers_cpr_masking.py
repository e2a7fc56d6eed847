"""CPR numbers masked wherever they could be shown: in free text, in JSON-like answers, in issues and in logs."""

from __future__ import annotations

import io
import logging
from dataclasses import replace

import orjson
import pytest
import structlog

from hub.domain.identifiers import mask_cpr_everywhere, mask_cpr_in_text
from hub.domain.outcome import Issue, Severity, error, operation_outcome
from hub.logs import MaskingFormatter, _mask, configure_logging

CPR = "2509479989"
TRACKING_ID = "019a1234-5678-7abc-8def-a1234567890b"  # a UUID with ten digits in a row: not a CPR number


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("2509479989", "250947-xxxx"),
        ("250947-9989", "250947-xxxx"),
        ("cpr 2509479989, again 2509479989.", "cpr 250947-xxxx, again 250947-xxxx."),
        ("Patient/2509479989", "Patient/250947-xxxx"),
        ("x2509479989y", "x250947-xxxxy"),
        ("2509479989.5", "250947-xxxx.5"),
        ("Bundle.entry[0].resource.`2509479989`", "Bundle.entry[0].resource.`250947-xxxx`"),
        ("12509479989", "12509479989"),  # eleven digits: not a CPR number
        ("250947998", "250947998"),
        ("SOR 265161000016000", "SOR 265161000016000"),
        (f"tracking id {TRACKING_ID}", f"tracking id {TRACKING_ID}"),
        ("no digits at all", "no digits at all"),
    ],
)
def test_cpr_shaped_numbers_are_masked_to_the_birth_date(text: str, masked: str) -> None:
    assert mask_cpr_in_text(text) == masked


def test_every_string_of_an_answer_is_masked_in_order_and_numbers_are_kept() -> None:
    answer = {
        "tracking_id": TRACKING_ID,
        "message_id": CPR,
        "timeline": [{"detail": {"bundle_id": f"b-{CPR}", CPR: ("x", 7)}}, "250947-9989"],
        "attempts": 3,
        "none": None,
    }
    masked = mask_cpr_everywhere(answer)
    assert masked == {
        "tracking_id": TRACKING_ID,
        "message_id": "250947-xxxx",
        "timeline": [{"detail": {"bundle_id": "b-250947-xxxx", "250947-xxxx": ["x", 7]}}, "250947-xxxx"],
        "attempts": 3,
        "none": None,
    }
    assert list(masked) == list(answer)
    assert answer["message_id"] == CPR  # a copy: the original is left as it was
    assert mask_cpr_everywhere(CPR) == "250947-xxxx" and mask_cpr_everywhere(5) == 5


def test_a_deep_answer_does_not_reach_the_recursion_limit() -> None:
    deep: list[object] = [CPR]
    for _ in range(5000):
        deep = [deep]
    masked = mask_cpr_everywhere(deep)
    for _ in range(5000):
        masked = masked[0]
    assert masked == ["250947-xxxx"]


def test_an_issue_is_masked_when_it_is_made_and_stays_so() -> None:
    issue = error("value", f"Bundle.entry[0].resource.`{CPR}`", f"the id {CPR!r} is not valid")
    assert issue.expression == "Bundle.entry[0].resource.`250947-xxxx`"
    assert issue.diagnostics == "the id '250947-xxxx' is not valid"
    assert replace(issue, line=3).diagnostics == issue.diagnostics
    located = Issue(Severity.FATAL, "structure", None, f"{CPR}", line=1, column=2)
    assert CPR not in orjson.dumps(operation_outcome([issue, located])).decode()


def test_log_entries_are_masked_everywhere_in_them() -> None:
    entry = _mask(None, "info", {"event": f"got {CPR}", "issues": [{"d": CPR}], "error": ValueError(CPR), "n": 1})
    assert entry == {
        "event": "got 250947-xxxx",
        "issues": [{"d": "250947-xxxx"}],
        "error": "ValueError('250947-xxxx')",
        "n": 1,
    }


def test_the_standard_library_lines_are_masked() -> None:
    record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "request for %s failed", (CPR,), None)
    assert MaskingFormatter(logging.Formatter("%(name)s %(message)s")).format(record) == (
        "uvicorn.error request for 250947-xxxx failed"
    )


def test_configured_logging_masks_structlog_and_standard_lines(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    kept = root.handlers[:]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root.handlers = [handler]
    try:
        configure_logging("INFO")
        logging.getLogger("some.library").warning("saw %s", CPR)
        structlog.get_logger("t").info("hello", patient=CPR)
        try:
            raise KeyError(CPR)
        except KeyError:
            structlog.get_logger("t").exception("failed")
    finally:
        root.handlers = kept
        structlog.reset_defaults()
    written = stream.getvalue() + capsys.readouterr().err
    assert "saw 250947-xxxx" in written and "hello" in written
    assert CPR not in written
