"""FHIRPath invariants compiled to Python closures that behave exactly as fhirpathpy evaluates them, faster.

fhirpathpy interprets its parse tree anew at every evaluation: per node a dispatch by type name, per function
call a merge of its whole function table, a regular expression per identifier, paths spelled as strings for
every element it visits. Here each node of the same parse tree becomes a closure once, when the rules are
loaded: names, literals, type specifiers and table look-ups are resolved then. At run time the closures do what
fhirpathpy's evaluators, doInvoke, make_param and infix_invoke do, in the same order and with the same
(mutable) context, and call fhirpathpy's own functions (where, exists, =, is, startsWith, ...), so a result,
and any exception (which the validator takes as "holds"), is the one fhirpathpy gives. Member navigation is
re-implemented without the strings fhirpathpy builds but never reads (propName), and with a memo of the child
paths; each node is still a fhirpathpy ResourceNode, so types resolve as there. The most frequent invariants
are not compiled but spelled out natively. resolve() (which fhirpathpy lacks) is the user function of
rules._user_functions; compiled, it reads %resource and %rootResource from the ctx, and looks in the Bundle under
validation (resolution: fullUrl, Type/id and #id, with an index of the Bundle built once per validation). Such an
invariant holds only when it gives the single true (as the HL7 validator takes every invariant; fhirpathpy never
evaluated them, so there is no earlier verdict to keep): MedCom's or-chains over references are empty, not false,
where a reference leads to a resource without the element compared.

compile_invariant returns None for a parse tree with a construct not handled here (the caller then uses
fhirpathpy itself); tests/unit/validate/test_fhirpath.py compares both on every invariant.

The modules: upstream (all that is taken from fhirpathpy, typed), tree (the parse tree), environment (the
evaluation context and the check around a compiled body), literals and compiler (nodes to closures), navigation
(member navigation), functions (where, exists, is, ofType re-implemented), resolution (resolve() inside the
Bundle), pairs and natives (the native invariants).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hub.validate.fhirpath.compiler import Compiler
from hub.validate.fhirpath.environment import Check, checker, evaluator, holds
from hub.validate.fhirpath.natives import NATIVE as _NATIVE
from hub.validate.fhirpath.natives import ON_STRINGS, guarded
from hub.validate.fhirpath.tree import always_raises
from hub.validate.fhirpath.upstream import R4_MODEL, parse

__all__ = ["compile_expression", "compile_invariant"]


def compile_invariant(expression: str, user_functions: dict[str, Any], trace: Callable[..., None]) -> Check | None:
    """The check (node, resource, root, type path) -> holds for expression, or None when not compilable here."""
    native = _NATIVE.get(expression)
    if native is not None:
        return guarded(native)
    compiled = _compile_invariant(expression, user_functions, trace)
    on_strings = ON_STRINGS.get("".join(expression.split()))
    if compiled is not None and on_strings is not None:
        return _on_string(on_strings, compiled)
    matching = _MATCHES.fullmatch(expression)
    return compiled if compiled is None or matching is None else _matching(matching.group(1), compiled)


def _on_string(native: Callable[[str], bool], compiled: Check) -> Check:
    def on_string(node: Any, resource: Any, root: Any, type_path: str) -> bool:
        if type(node) is str:
            return native(node)
        return compiled(node, resource, root, type_path)

    return on_string


# matches('regex') alone, the regex with no quote or backslash (no escapes to read): an identifier's value
# (dk-core's min-digits-sor, cpr, gln-length; MedCom's uuidv5)
_MATCHES = re.compile(r"matches\('([^'\\]+)'\)")


def _matching(pattern: str, compiled: Check) -> Check:
    """matches(pattern) on a string value as fhirpathpy takes it (re.search, DOTALL), without a ctx; any other
    value (and a regex Python refuses) as compiled."""
    try:
        regex = re.compile(pattern, re.DOTALL)
    except re.error:
        return compiled

    def check(node: Any, resource: Any, root: Any, type_path: str) -> bool:
        if type(node) is str and "resourceType" not in node:  # (else the check's start is another, as compiled)
            return regex.search(node) is not None
        return compiled(node, resource, root, type_path)

    return check


def _compile_invariant(expression: str, user_functions: dict[str, Any], trace: Callable[..., None]) -> Check | None:
    """The expression's parse tree compiled to closures (None when not compilable here)."""
    try:
        tree = parse(expression)
        compiler = Compiler(R4_MODEL, user_functions, tree)
        if always_raises(tree["children"][0], compiler.registry):
            # fhirpathpy fails on every input (it reaches a function that neither it nor the user functions
            # have), and a failure counts as "holds"
            return holds
        body = compiler.expression(tree["children"][0])
    except Exception:  # Unsupported, or a parse tree of another shape than expected: fhirpathpy evaluates it
        return None
    return checker(body, compiler.model, compiler.user_table, compiler.uses_clock, trace, compiler.resolves)


def compile_expression(
    expression: str, user_functions: dict[str, Any], trace: Callable[..., None]
) -> Callable[[Any, dict[str, Any] | None], list[Any]] | None:
    """The compiled evaluation of any expression, giving its result collection as fhirpathpy.evaluate does (for
    the official FHIRPath test suite, tests/unit/validate/test_fhirpath_suite.py); None when not compilable here,
    as compile_invariant, whose natives it does not use. A parse error raises, as in fhirpathpy."""
    tree = parse(expression)
    try:
        compiler = Compiler(R4_MODEL, user_functions, tree)
        body = compiler.expression(tree["children"][0])
    except Exception:  # Unsupported, or a parse tree of another shape than expected: fhirpathpy evaluates it
        return None
    return evaluator(body, compiler.model, compiler.user_table, trace)
