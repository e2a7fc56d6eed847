"""The parse tree of an expression, and what the compiler reads off a tree before it compiles one.

fhirpathpy parses (upstream.parse: its ANTLR grammar, walked into dicts of type, text and children); here: the
name of an Identifier node, whether an expression reads $index or $total, and whether every evaluation reaches a
function fhirpathpy does not have (it then fails on any input, which counts as holding).
"""

from __future__ import annotations

import re
from typing import Any


class Unsupported(Exception):
    """A construct of the parse tree this package does not compile."""


_QUOTES = re.compile(r"(^\"|\"$)")


def identifier(node: dict[str, Any]) -> str:
    """The name an Identifier node spells (without surrounding double quotes)."""
    if node.get("type") != "Identifier":  # pragma: no cover - the grammar gives an Identifier here
        raise Unsupported("Identifier")
    return _QUOTES.sub("", node["text"])


def uses_index(tree: Any) -> bool:
    """The expression reads $index or $total (which a criterion evaluated twice could see change)."""
    if isinstance(tree, dict):
        return tree.get("type") in ("IndexInvocation", "TotalInvocation") or any(
            uses_index(c) for c in tree.get("children") or ()
        )
    return False


_PASS_THROUGH = frozenset({"TermExpression", "InvocationTerm", "ParenthesizedTerm", "LiteralTerm"})


_EAGER = frozenset(
    {
        "InvocationExpression",  # every step runs, on whatever the step before gave (an empty collection too)
        "IndexerExpression",
        "UnionExpression",
        "EqualityExpression",
        "InequalityExpression",
        "AdditiveExpression",
        "MultiplicativeExpression",
        "OrExpression",  # both operands are evaluated before the operator
        "AndExpression",
        "XorExpression",
        "ImpliesExpression",
        "MembershipExpression",
    }
)


def always_raises(node: Any, registry: dict[str, Any]) -> bool:
    """fhirpathpy raises whatever the input: the node calls a function it does not have, on a path every
    evaluation takes (not inside a criterion, a branch of iif, or an argument)."""
    if not isinstance(node, dict):
        return False
    kind = node.get("type")
    children = node.get("children") or []
    if kind in _PASS_THROUGH:
        return bool(children) and always_raises(children[0], registry)
    if kind in _EAGER:
        return any(always_raises(child, registry) for child in children)
    if kind == "FunctionInvocation":
        functn = children[0] if children else {}
        parts = functn.get("children") or []
        if functn.get("type") == "Functn" and parts and parts[0].get("type") == "Identifier":
            return identifier(parts[0]) not in registry
    return False
