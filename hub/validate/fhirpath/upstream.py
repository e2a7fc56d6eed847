"""What this package takes from fhirpathpy: its parser, the R4 model, its function table, its node and type classes
and a few helpers, from modules fhirpathpy does not document as an API (so pyproject.toml pins the fhirpathpy
version the compiled FHIRPath is tested with).

Imported here alone. fhirpathpy has no annotations (mypy --strict refuses calls to its functions), so each name
gets here the type this package relies on; every name is fhirpathpy's own object, so the types cost nothing at
run time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

from fhirpathpy.engine import nodes, util
from fhirpathpy.engine import param_check_table as _param_check_table
from fhirpathpy.engine.evaluators import quantity_literal as _quantity_literal
from fhirpathpy.engine.evaluators import string_literal as _string_literal
from fhirpathpy.engine.invocations import invocation_registry as _invocation_registry
from fhirpathpy.engine.invocations.constants import constants as _constants
from fhirpathpy.engine.invocations.equality import equality as _equality
from fhirpathpy.engine.nodes import FP_Quantity, FP_Type, ResourceNode, TypeInfo
from fhirpathpy.models import models as _models
from fhirpathpy.parser import parse as _parse

__all__ = [
    "R4_MODEL",
    "FP_Quantity",
    "FP_Type",
    "Invocation",
    "ResourceNode",
    "Tree",
    "TypeInfo",
    "TypeOf",
    "create_node",
    "equality",
    "flatten",
    "invocation_registry",
    "is_number",
    "make_datetime",
    "make_node",
    "make_time",
    "make_type",
    "param_check_table",
    "parse",
    "process_user_invocation_table",
    "quantity_literal",
    "reset_clock",
    "string_literal",
    "type_of",
]

Tree = dict[str, Any]  # a node of fhirpathpy's parse tree: type, text, children, terminalNodeText
Invocation = dict[str, Any]  # an entry of its function table: fn, arity, and the flags nullable, nullable_input, ...


class TypeOf(Protocol):
    """The type of a value, as TypeInfo.from_value gives it."""

    def is_(self, other: Any) -> bool: ...


R4_MODEL: dict[str, Any] = _models["r4"]
# the parse tree of an expression: fhirpathpy's ANTLR lexer and parser (its grammar), walked into plain dicts
parse: Callable[[str], Tree] = _parse
# (a dict literal of mixed entries in fhirpathpy, which mypy infers as dict[str, object])
invocation_registry = cast(dict[str, Invocation], _invocation_registry)
process_user_invocation_table: Callable[[dict[str, Any]], dict[str, Invocation]] = util.process_user_invocation_table
param_check_table: dict[str, Callable[[Any], Any]] = _param_check_table
string_literal: Callable[[Any, Any, Tree], list[Any]] = _string_literal
quantity_literal: Callable[[Any, Any, Tree], list[Any]] = _quantity_literal
flatten: Callable[[list[Any]], list[Any]] = util.flatten
is_number: Callable[[Any], bool] = util.is_number
equality: Callable[[Any, list[Any], list[Any]], Any] = _equality
reset_clock: Callable[[], None] = _constants.reset  # now(), today() and timeOfDay() anew for an evaluation
make_node: Callable[[Any, Any], ResourceNode] = ResourceNode  # ResourceNode(data, path)
create_node: Callable[[Any, Any], ResourceNode] = ResourceNode.create_node
make_type: Callable[[str, str | None], TypeInfo] = TypeInfo  # TypeInfo(name, namespace)
type_of: Callable[[Any], TypeOf] = TypeInfo.from_value
make_datetime: Callable[[str], Any] = nodes.FP_DateTime
make_time: Callable[[str], Any] = nodes.FP_Time
