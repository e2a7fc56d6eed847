"""Every refusal the HTTP interface gives is a FHIR OperationOutcome, also those the framework makes itself.

- the hub's own refusals (OutcomeError), with their status and headers;
- bad parameters or bodies (FastAPI's RequestValidationError): 400, naming the parameter;
- the framework's own HTTP errors (no such route: 404; a method the route does not have: 405, with ``Allow``);
- anything unexpected: 500 with an ``exception`` issue that says no more than that and an incident id, which
  the log line with the exception's type carries too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from hub.api.responses import OutcomeError, outcome_response
from hub.domain.outcome import Issue, error

log = structlog.get_logger(__name__)

# the FHIR issue type of a refusal by its HTTP status
_ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    408: "timeout",
    409: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "invalid",
    429: "throttled",
    503: "transient",
}

_WHERE = {"query": "query parameter", "path": "path parameter", "header": "header", "cookie": "cookie", "body": "body"}


def issue_code(status_code: int) -> str:
    """The FHIR issue type that fits an HTTP refusal: ``processing`` for another 4xx, ``exception`` for a 5xx."""
    return _ISSUE_CODES.get(status_code, "exception" if status_code >= 500 else "processing")


def parameter_issues(errors: Sequence[Any]) -> list[Issue]:
    """One issue per fault FastAPI found in a request's parameters or body; the expression names the parameter
    (``query.limit``, ``path.item_id``, ``body.filters.gp_list``), and so do the diagnostics."""
    issues = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        expression = ".".join(loc) or None
        where = f"{_WHERE.get(loc[0], loc[0])} {'.'.join(loc[1:])}".strip() if loc else "the request"
        issues.append(error("invalid", expression, f"{where}: {err.get('msg', 'invalid')}"))
    return issues


def http_error_issue(request: Request, exc: HTTPException) -> Issue:
    """What the framework's own refusal means, in words a caller can act on."""
    status = exc.status_code
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    if exc.detail and exc.detail != phrase:
        diagnostics = str(exc.detail)
    elif status == 404:
        diagnostics = "the hub has no resource or operation at this path; /docs describes its HTTP interface"
    elif status == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        diagnostics = f"{request.method} is not allowed at this path; allowed: {allowed or 'none'}"
    else:
        diagnostics = phrase or f"HTTP {status}"
    return error(issue_code(status), None, diagnostics)


def install_refusal_handlers(app: FastAPI) -> None:
    @app.exception_handler(OutcomeError)
    async def _outcome(_: Request, exc: OutcomeError) -> Response:
        return outcome_response(exc.status_code, exc.issues, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_parameters(_: Request, exc: RequestValidationError) -> Response:
        return outcome_response(400, parameter_issues(exc.errors()))

    @app.exception_handler(HTTPException)
    async def _framework_refusal(request: Request, exc: HTTPException) -> Response:
        if exc.status_code < 400:  # not a refusal (the framework raises none, but keep it as it is)
            return Response(status_code=exc.status_code, headers=exc.headers)
        return outcome_response(exc.status_code, [http_error_issue(request, exc)], headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        incident = uuid.uuid4().hex
        # the type only: an exception's text may quote the request
        route = getattr(request.scope.get("route"), "path", None)  # the template, not the path as sent
        log.error("request failed", incident=incident, method=request.method, route=route, error=type(exc).__name__)
        issue = error("exception", None, f"the hub failed to handle this request (incident {incident})")
        return outcome_response(500, [issue])
