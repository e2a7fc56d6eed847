"""FHIRPath criteria of subscriptions: compiled once, evaluated on a message's Bundle.

fhirpathpy alone recovers silently from syntax errors and reports unknown functions only when it
evaluates, so :func:`compile_criteria` checks the syntax with the ANTLR parser first and then evaluates
the expression once on an empty message Bundle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import fhirpathpy
from antlr4 import CommonTokenStream, InputStream, Token
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy.models import models as fhir_models
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

Criterion = Callable[[dict[str, Any]], list[Any]]


class CriteriaError(ValueError):
    """A FHIRPath criterion that does not compile."""


class _RaiseOnSyntaxError(ErrorListener):  # type: ignore[misc, unused-ignore]  # antlr4 is untyped: base is Any
    def syntaxError(  # the ANTLR interface
        self, recognizer: Any, offendingSymbol: Any, line: int, column: int, msg: str, e: Any
    ) -> None:
        raise CriteriaError(f"syntax error at column {column + 1}: {msg}")


def _check_syntax(expression: str) -> None:
    """fhirpathpy's own parser recovers silently from syntax errors; this one refuses them."""
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(_RaiseOnSyntaxError())
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(_RaiseOnSyntaxError())
    parser.expression()
    token = parser.getCurrentToken()
    if token is not None and token.type != Token.EOF:
        raise CriteriaError(f"syntax error at column {token.column + 1}: unexpected {token.text!r}")


_PROBE: dict[str, Any] = {"resourceType": "Bundle", "type": "message", "entry": []}


@lru_cache(maxsize=4096)
def compile_criteria(expression: str) -> Criterion:
    """Compile a FHIRPath criterion once (identical expressions share the compiled form).

    Besides syntax, an evaluation on an empty message Bundle catches unknown functions and wrong arities,
    which fhirpathpy reports only when it evaluates.
    """
    if not expression.strip():
        raise CriteriaError("the expression is empty")
    try:
        _check_syntax(expression)
        compiled = fhirpathpy.compile(expression, fhir_models["r4"])
    except CriteriaError:
        raise
    except Exception as exc:  # fhirpathpy raises plain Exceptions
        raise CriteriaError(f"does not compile: {exc}") from exc
    try:
        compiled(dict(_PROBE), {})
    except Exception as exc:
        raise CriteriaError(f"does not evaluate: {exc}") from exc

    def criterion(bundle: dict[str, Any]) -> list[Any]:
        result = compiled(bundle, {})
        return result if isinstance(result, list) else [result]

    return criterion


def criterion_holds(result: Sequence[Any]) -> bool:
    """FHIRPath truth for a criterion: a non-empty result with no ``false`` in it."""
    return bool(result) and all(item is not False for item in result)


@dataclass(frozen=True, slots=True)
class TrialMessage:
    """A realistic message a criterion is tried on before a subscription with it is accepted."""

    name: str  # where it comes from, e.g. "hospital-notification-message/stin-admitted-a5e5b880.json"
    bundle: dict[str, Any]


def _kind(value: Any) -> str:
    return "a resource" if isinstance(value, dict) else f"a {type(value).__name__} ({str(value)[:40]!r})"


def trial_problem(criterion: Criterion, messages: Sequence[TrialMessage]) -> str | None:
    """Why the criterion cannot be used on such messages, or None.

    A criterion must evaluate on every trial message without an error (``Bundle.timestamp > 5`` compares a
    dateTime with a number: an error on every real message, though it passes on an empty Bundle) and yield
    true, false or nothing: anything else would never decide a match the way its author meant.
    """
    for message in messages:
        try:
            result = criterion(message.bundle)
        except Exception as exc:  # fhirpathpy raises plain Exceptions
            return f"fails on the trial message {message.name}: {str(exc)[:300]}"
        if len(result) > 1 or any(not isinstance(item, bool) for item in result):
            found = ", ".join(_kind(item) for item in result[:3]) + (", ..." if len(result) > 3 else "")
            return (
                f"yields {found} on the trial message {message.name}; a criterion must yield one boolean or "
                "nothing (e.g. end a path with .exists(), or compare it: ... = 'EMER')"
            )
    return None
