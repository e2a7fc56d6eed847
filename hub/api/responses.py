"""FHIR-shaped HTTP answers: every refusal is an OperationOutcome that says what is wrong and where."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import Response

from hub.domain.outcome import Issue, error, operation_outcome

FHIR_JSON = "application/fhir+json"


def fhir_response(
    body: Mapping[str, Any], *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status_code=status_code, media_type=FHIR_JSON, headers=dict(headers or {}))


def outcome_response(
    status_code: int, issues: Sequence[Issue], *, headers: Mapping[str, str] | None = None
) -> Response:
    return fhir_response(operation_outcome(list(issues)), status_code=status_code, headers=headers)


class OutcomeError(Exception):
    """Raised inside a route to answer with an OperationOutcome."""

    def __init__(
        self,
        status_code: int,
        code: str,
        expression: str | None,
        diagnostics: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.status_code = status_code
        self.issues = [error(code, expression, diagnostics)]
        self.headers = dict(headers or {})
