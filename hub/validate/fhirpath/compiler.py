"""The compilation of a parse tree: each node becomes a closure once, when the rules are loaded.

A closure (ctx, input collection) -> result collection does at run time what fhirpathpy's evaluators, doInvoke,
make_param and infix_invoke do for the node, in the same order and with the same (mutable) ctx, calling
fhirpathpy's own functions from its function table (a few replaced by hub.validate.fhirpath.functions, and the
user function resolve() by hub.validate.fhirpath.resolution.resolve_fn, which reads the ctx); names,
type specifiers and table look-ups are resolved here, once. A node of a kind not handled raises Unsupported.
"""

from __future__ import annotations

from typing import Any

from hub.validate.fhirpath.environment import Closure, arraify, is_nullable, is_some
from hub.validate.fhirpath.functions import exists_macro, is_fn, of_type_fn, where_macro
from hub.validate.fhirpath.literals import LITERALS
from hub.validate.fhirpath.navigation import navigation
from hub.validate.fhirpath.resolution import resolve_fn
from hub.validate.fhirpath.tree import Unsupported, identifier, uses_index
from hub.validate.fhirpath.upstream import (
    create_node,
    invocation_registry,
    is_number,
    make_type,
    param_check_table,
    process_user_invocation_table,
)


class Compiler:
    """Compiles the nodes of one parse tree to closures, with the function table of its expression."""

    def __init__(self, model: dict[str, Any], user_functions: dict[str, Any], tree: Any) -> None:
        self.model = model
        self.user_table = process_user_invocation_table(user_functions)
        self.registry = {**invocation_registry, **self.user_table}
        if not uses_index(tree):
            # where and exists(criteria) with each criterion evaluated once (fhirpathpy's where evaluates a
            # criterion that gives a result twice; the second result is the first, unless it reads $index)
            self.registry["where"] = {**self.registry["where"], "fn": where_macro}
            self.registry["exists"] = {**self.registry["exists"], "fn": exists_macro}
        for name, fn in (("is", is_fn), ("isOp", is_fn), ("ofType", of_type_fn)):
            self.registry[name] = {**self.registry[name], "fn": fn}
        if "resolve" in self.user_table:
            # the user function resolve() (rules._user_functions), with %resource and %rootResource from the ctx
            self.registry["resolve"] = {**self.user_table["resolve"], "fn": resolve_fn}
        self.uses_clock = False
        self.resolves = False  # the expression calls resolve()
        self.navigation = navigation(model)

    # --- expressions ------------------------------------------------------------------------------------

    def expression(self, node: dict[str, Any]) -> Closure:
        """The closure of a node of the parse tree: by its type, a literal (hub.validate.fhirpath.literals) or the
        method named after it."""
        kind = node.get("type")
        literal = LITERALS.get(kind) if isinstance(kind, str) else None
        if literal is not None:
            return literal(node)
        handler = getattr(self, f"_{kind}", None)
        if handler is None:
            raise Unsupported(kind)
        closure: Closure = handler(node)
        return closure

    def _TermExpression(self, node: dict[str, Any]) -> Closure:
        return self.expression(node["children"][0])

    _InvocationTerm = _TermExpression
    _ParenthesizedTerm = _TermExpression

    def _LiteralTerm(self, node: dict[str, Any]) -> Closure:
        term = node["children"][0]
        if term:
            return self.expression(term)
        text = node["text"]  # pragma: no cover - the parser always gives the literal's node
        return lambda ctx, data: [text]  # pragma: no cover

    def _ExternalConstantTerm(self, node: dict[str, Any]) -> Closure:
        ident = node["children"][0]["children"][0]
        name = identifier(ident).replace("`", "")

        def external(ctx: dict[str, Any], data: Any) -> Any:
            variables = ctx["vars"]
            if name not in variables:
                raise ValueError(f"Attempting to access an undefined environment variable: {name}")
            value = variables[name]
            if value is None:
                return []
            if not isinstance(value, list):
                return [value]
            return value

        return external

    def _ThisInvocation(self, node: dict[str, Any]) -> Closure:
        return lambda ctx, data: arraify(ctx["$this"])

    def _IndexInvocation(self, node: dict[str, Any]) -> Closure:
        return lambda ctx, data: arraify(ctx["$index"])

    def _TotalInvocation(self, node: dict[str, Any]) -> Closure:
        return lambda ctx, data: arraify(ctx["$total"])

    def _InvocationExpression(self, node: dict[str, Any]) -> Closure:
        steps = [self.expression(child) for child in node["children"]]

        def invocation(ctx: dict[str, Any], data: Any) -> Any:
            for step in steps:
                data = step(ctx, data)
            return list(data)

        return invocation

    def _MemberInvocation(self, node: dict[str, Any]) -> Closure:
        key = identifier(node["children"][0]).replace("`", "")
        navigate = self.navigation.member(key)
        capitalized = isinstance(key, str) and key[0] == key[0].upper()

        def member(ctx: dict[str, Any], data: Any) -> Any:
            if isinstance(data, list):
                if capitalized:
                    try:
                        filtered = [x for x in data if x["resourceType"] == key]
                        return [create_node(x, key) for x in filtered]
                    except TypeError:
                        pass
                return navigate(data)
            return []

        return member

    def _IndexerExpression(self, node: dict[str, Any]) -> Closure:
        collection = self.expression(node["children"][0])
        index = self.expression(node["children"][1])

        def indexer(ctx: dict[str, Any], data: Any) -> Any:
            coll = collection(ctx, data)
            idx = index(ctx, data)
            if isinstance(idx, list) and len(idx) == 0:
                return []
            number = int(idx[0])
            if coll is not None and is_some(number) and len(coll) > number and number >= 0:
                return [coll[number]]
            return []

        return indexer

    def _PolarityExpression(self, node: dict[str, Any]) -> Closure:
        sign = node["terminalNodeText"][0]
        operand = self.expression(node["children"][0])

        def polarity(ctx: dict[str, Any], data: Any) -> Any:
            rtn = operand(ctx, data)
            if len(rtn) != 1:
                raise Exception("Unary " + sign + " can only be applied to an individual number.")
            if not is_number(rtn[0]):
                raise Exception("Unary " + sign + " can only be applied to a number.")
            if sign == "-":
                rtn[0] = -rtn[0]
            return rtn

        return polarity

    def _operator(self, name: str, children: list[dict[str, Any]]) -> Closure:
        invocation = self.registry.get(name)
        if invocation is None or "fn" not in invocation:
            return raiser("Not implemented " + name)
        if len(children) != 2:
            return raiser("Infix invoke should have arity 2")  # pragma: no cover - the grammar gives two
        arg_types = invocation["arity"][2]
        if arg_types is None:  # pragma: no cover - every operator has argument types
            raise Unsupported(name)
        params = [self._param(arg_type, child) for arg_type, child in zip(arg_types, children, strict=True)]
        first, second = params
        fn = invocation["fn"]
        nullable = "nullable" in invocation

        def infix(ctx: dict[str, Any], data: Any) -> Any:
            a = first(ctx, data)
            b = second(ctx, data)
            if nullable and (is_nullable(a) or is_nullable(b)):
                return []
            return arraify(fn(ctx, a, b))

        return infix

    def _op_expression(self, node: dict[str, Any]) -> Closure:
        return self._operator(node["terminalNodeText"][0], node["children"])

    _EqualityExpression = _op_expression
    _InequalityExpression = _op_expression
    _AdditiveExpression = _op_expression
    _MultiplicativeExpression = _op_expression
    _OrExpression = _op_expression
    _AndExpression = _op_expression
    _XorExpression = _op_expression
    _ImpliesExpression = _op_expression

    def _UnionExpression(self, node: dict[str, Any]) -> Closure:
        return self._operator("|", node["children"])

    def _MembershipExpression(self, node: dict[str, Any]) -> Closure:
        return self._named_operator(node, {"contains": "containsOp", "in": "inOp"})

    def _TypeExpression(self, node: dict[str, Any]) -> Closure:
        return self._named_operator(node, {"is": "isOp", "as": "asOp"})

    def _named_operator(self, node: dict[str, Any], names: dict[str, str]) -> Closure:
        """An operator written as a word, by the name fhirpathpy gives its function."""
        op = node["terminalNodeText"][0]
        alias = names.get(op)
        if alias is None:  # pragma: no cover - the grammar has no other
            raise Unsupported(op)
        return self._operator(alias, node["children"])

    def _FunctionInvocation(self, node: dict[str, Any]) -> Closure:
        functn = node["children"][0]
        if functn.get("type") != "Functn":  # pragma: no cover - the grammar gives a Functn
            raise Unsupported("FunctionInvocation")
        parts = functn["children"]
        name = identifier(parts[0])
        raw_params = None
        rest = parts[1:]
        if rest and "children" in rest[0]:
            if rest[0].get("type") != "ParamList":  # pragma: no cover
                raise Unsupported("Functn")
            raw_params = rest[0]["children"]
        return self._invoke(name, raw_params)

    def _invoke(self, name: str, raw_params: list[dict[str, Any]] | None) -> Closure:
        invocation = self.registry.get(name)
        if invocation is None:
            return raiser("Not implemented: " + str(name))
        if name in ("now", "today", "timeOfDay"):
            self.uses_clock = True
        if name == "resolve":
            self.resolves = True
        fn = invocation["fn"]
        if "variadic" in invocation:
            raise Unsupported(name)
        nullable_input = "nullable_input" in invocation
        if "arity" not in invocation:
            if raw_params is not None and len(raw_params) > 0:
                return raiser(name + " expects no params", nullable_input)

            def no_params(ctx: dict[str, Any], data: Any) -> Any:
                if nullable_input and is_nullable(data):
                    return []
                return arraify(fn(ctx, arraify(data)))

            return no_params
        if getattr(fn, "__name__", "") == "trace_fn" and raw_params is not None:
            raw_params = raw_params[:1]
        count = len(raw_params) if isinstance(raw_params, list) else 0
        if count not in invocation["arity"]:
            return raiser(name + " wrong arity: got " + str(count), nullable_input)
        arg_types = invocation["arity"][count]
        params = [self._param(arg_types[i], raw_params[i]) for i in range(count)] if raw_params is not None else []
        nullable = "nullable" in invocation

        def call(ctx: dict[str, Any], data: Any) -> Any:
            if nullable_input and is_nullable(data):
                return []
            this = ctx["$this"] if "$this" in ctx else ctx["dataRoot"]
            args = [param(ctx, this) for param in params]
            if nullable and (is_nullable(data) or any(is_nullable(a) for a in args)):
                return []
            return arraify(fn(ctx, data, *args))

        return call

    # --- parameters (make_param) ------------------------------------------------------------------------

    def _param(self, node_type: Any, param: dict[str, Any]) -> Closure:
        """A closure (ctx, parentData) -> the argument, as make_param(ctx, parentData, node_type, param)."""
        if node_type == "Expr":
            body = self.expression(param)

            def expr(ctx: dict[str, Any], parent: Any) -> Any:
                def lambda_(data: Any) -> Any:
                    this = ctx["$this"] = arraify(data)
                    return body(ctx, this)

                return lambda_

            return expr
        if node_type == "AnyAtRoot":
            body = self.expression(param)

            def at_root(ctx: dict[str, Any], parent: Any) -> Any:
                this = ctx["$this"] = ctx["$this"] if "$this" in ctx else ctx["dataRoot"]
                return body(ctx, this)

            return at_root
        if node_type == "Identifier":
            if param["type"] == "TermExpression":
                text = param["text"]
                return lambda ctx, parent: text
            return raiser("Expected identifier node")
        if node_type == "TypeSpecifier":
            return self._type_specifier(param)
        body = self.expression(param)
        if node_type == "Any":

            def any_(ctx: dict[str, Any], parent: Any) -> Any:
                ctx["$this"] = parent
                return body(ctx, parent)

            return any_
        listed = isinstance(node_type, list)
        type_name = node_type[0] if listed else node_type
        check = param_check_table.get(type_name)

        def typed(ctx: dict[str, Any], parent: Any) -> Any:
            ctx["$this"] = parent
            res = body(ctx, parent)
            if listed and len(res) == 0:
                return []
            if len(res) > 1:
                raise Exception("Unexpected collection; expected singleton of type " + type_name)
            if len(res) == 0:
                return []
            if check is None:
                raise Exception("Implement me for " + type_name)
            return check(res[0])

        return typed

    def _type_specifier(self, param: dict[str, Any]) -> Closure:
        identifiers = param["text"].replace("`", "").split(".")
        if len(identifiers) == 2:
            namespace, name = identifiers
        elif len(identifiers) == 1:
            namespace, name = None, identifiers[0]
        else:
            return raiser(f"Expected TypeSpecifier node, got {param}")
        return lambda ctx, parent: make_type(name, namespace)


def raiser(message: str, nullable_input: bool = False) -> Closure:
    """What fhirpathpy does when it meets the fault at run time: raise (after an empty input of a function that
    takes none, which gives the empty collection first)."""

    def fail(ctx: dict[str, Any], data: Any) -> Any:
        if nullable_input and is_nullable(data):
            return []
        raise Exception(message)

    return fail
