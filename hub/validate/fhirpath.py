"""FHIRPath invariants compiled to Python closures that behave exactly as fhirpathpy evaluates them, faster.

fhirpathpy interprets its parse tree anew at every evaluation: per node a dispatch by type name, per function
call a merge of its whole function table, a regular expression per identifier, paths spelled as strings for
every element it visits. Here each node of the same parse tree becomes a closure once, when the rules are
loaded: names, literals, type specifiers and table look-ups are resolved then. At run time the closures do what
fhirpathpy's evaluators, doInvoke, make_param and infix_invoke do, in the same order and with the same
(mutable) context, and call fhirpathpy's own functions (where, exists, =, is, startsWith, ...), so a result,
and any exception (which the validator takes as "holds"), is the one fhirpathpy gives. Member navigation is
re-implemented without the strings fhirpathpy builds but never reads (propName), and with a memo of the child
paths; each node is still a fhirpathpy ResourceNode, so types resolve as there.

compile_invariant returns None for a parse tree with a construct not handled here (the caller then uses
fhirpathpy itself); tests/unit/validate/test_validate_fhirpath.py compares both on every invariant.
"""

from __future__ import annotations

import re
from collections import abc
from collections.abc import Callable
from decimal import Decimal
from typing import Any

Closure = Callable[[dict[str, Any], Any], Any]
Check = Callable[[Any, Any, Any, str], bool]


class Unsupported(Exception):
    """A construct of the parse tree this module does not compile."""


def compile_invariant(expression: str, user_functions: dict[str, Any], trace: Callable[..., None]) -> Check | None:
    """The check (node, resource, root, type path) -> holds for expression, or None when not compilable here."""
    from fhirpathpy.models import models
    from fhirpathpy.parser import parse

    native = _NATIVE.get(expression)
    if native is not None:
        return _native(native)
    try:
        tree = parse(expression)
        compiler = _Compiler(models["r4"], user_functions, tree)
        if _always_raises(tree["children"][0], compiler.registry):
            # fhirpathpy fails on every input (it reaches a function it does not have, such as resolve()), and
            # a failure counts as "holds"
            return _holds
        body = compiler.expression(tree["children"][0])
    except Exception:  # Unsupported, or a parse tree of another shape than expected: fhirpathpy evaluates it
        return None
    return _checker(body, compiler, trace)


def _holds(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    return True


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


def _always_raises(node: Any, registry: dict[str, Any]) -> bool:
    """fhirpathpy raises whatever the input: the node calls a function it does not have, on a path every
    evaluation takes (not inside a criterion, a branch of iif, or an argument)."""
    if not isinstance(node, dict):
        return False
    kind = node.get("type")
    children = node.get("children") or []
    if kind in _PASS_THROUGH:
        return bool(children) and _always_raises(children[0], registry)
    if kind in _EAGER:
        return any(_always_raises(child, registry) for child in children)
    if kind == "FunctionInvocation":
        functn = children[0] if children else {}
        parts = functn.get("children") or []
        if functn.get("type") == "Functn" and parts and parts[0].get("type") == "Identifier":
            return _identifier(parts[0]) not in registry
    return False


def _checker(body: Closure, compiler: _Compiler, trace: Callable[..., None]) -> Check:
    from fhirpathpy.engine.invocations.constants import constants
    from fhirpathpy.engine.nodes import ResourceNode

    model = compiler.model
    user_table = compiler.user_table
    reset = constants.reset
    uses_clock = compiler.uses_clock

    def check(node: Any, resource: Any, root: Any, type_path: str) -> bool:
        # as rules._Fhirpath's check around fhirpathpy's apply_parsed_path (without returnRawData)
        try:
            start: Any = node if "resourceType" in node else ResourceNode(node, type_path)
            if uses_clock:
                reset()
            data_root = start if isinstance(start, list) else ([start] if _is_some(start) else [])
            ctx = {
                "dataRoot": data_root,
                "vars": {
                    "context": start,
                    "ucum": "http://unitsofmeasure.org",
                    "resource": resource,
                    "rootResource": root,
                },
                "model": model,
                "userInvocationTable": user_table,
                "traceFn": trace,
            }
            result = body(ctx, data_root)
            return not _single_false(result)
        except Exception:  # fhirpathpy fails on this content: not held against it (as rules._Fhirpath)
            return True

    return check


def _single_false(result: Any) -> bool:
    """fhirpathpy's final conversion of the result (visit) keeps exactly one item, the boolean false."""
    ResourceNode, FP_Type = _FP.ResourceNode, _FP.FP_Type

    if not isinstance(result, list):
        data = result.data if isinstance(result, ResourceNode) else result
        return data is False  # pragma: no cover - evaluators always return lists
    kept = []
    for item in result:
        data = item.data if isinstance(item, ResourceNode) else item
        if isinstance(data, abc.Mapping) and not isinstance(data, FP_Type) and list(data.keys()) == ["extension"]:
            continue  # fhirpathpy drops primitive extension parts from its results
        kept.append(data)
        if len(kept) > 1:
            return False
    return len(kept) == 1 and kept[0] is False


def _is_some(x: Any) -> bool:
    return x is not None and not (isinstance(x, list) and len(x) == 0)


def _is_nullable(x: Any) -> bool:
    return x is None or (isinstance(x, list) and len(x) == 0)


def _arraify(x: Any) -> list[Any]:
    if isinstance(x, list):
        return x
    if _is_some(x):
        return [x]
    return []


_CAPITALS = re.compile(r"(^\"|\"$)")


class _Compiler:
    def __init__(self, model: dict[str, Any], user_functions: dict[str, Any], tree: Any) -> None:
        from fhirpathpy.engine.invocations import invocation_registry
        from fhirpathpy.engine.util import process_user_invocation_table

        self.model = model
        self.user_table = process_user_invocation_table(user_functions)
        self.registry = {**invocation_registry, **self.user_table}
        if not _uses_index(tree):
            # where and exists(criteria) with each criterion evaluated once (fhirpathpy's where evaluates a
            # criterion that gives a result twice; the second result is the first, unless it reads $index)
            self.registry["where"] = {**self.registry["where"], "fn": _where}
            self.registry["exists"] = {**self.registry["exists"], "fn": _exists}
        for name, fn in (("is", _is), ("isOp", _is), ("ofType", _of_type)):
            self.registry[name] = {**self.registry[name], "fn": fn}
        self.uses_clock = False
        self.navigation = _navigation(model)

    # --- expressions ------------------------------------------------------------------------------------

    def expression(self, node: dict[str, Any]) -> Closure:
        kind = node.get("type")
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

    def _BooleanLiteral(self, node: dict[str, Any]) -> Closure:
        value = node["text"] == "true"
        return lambda ctx, data: [value]

    def _NumberLiteral(self, node: dict[str, Any]) -> Closure:
        decimal_number = Decimal(node["text"])
        int_number = int(decimal_number)
        value: Any = int_number if decimal_number == int_number else decimal_number
        return lambda ctx, data: [value]

    def _StringLiteral(self, node: dict[str, Any]) -> Closure:
        from fhirpathpy.engine.evaluators import string_literal

        value = string_literal(None, None, node)[0]
        return lambda ctx, data: [value]

    def _NullLiteral(self, node: dict[str, Any]) -> Closure:
        return lambda ctx, data: []

    def _DateTimeLiteral(self, node: dict[str, Any]) -> Closure:
        from fhirpathpy.engine import nodes

        text = node["text"][1:]
        return lambda ctx, data: [nodes.FP_DateTime(text)]

    def _TimeLiteral(self, node: dict[str, Any]) -> Closure:
        from fhirpathpy.engine import nodes

        text = node["text"][2:]
        return lambda ctx, data: [nodes.FP_Time(text)]

    def _QuantityLiteral(self, node: dict[str, Any]) -> Closure:
        from fhirpathpy.engine.evaluators import quantity_literal

        return lambda ctx, data: quantity_literal(ctx, data, node)

    def _ExternalConstantTerm(self, node: dict[str, Any]) -> Closure:
        identifier = node["children"][0]["children"][0]
        name = _identifier(identifier).replace("`", "")

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
        return lambda ctx, data: _arraify(ctx["$this"])

    def _IndexInvocation(self, node: dict[str, Any]) -> Closure:
        return lambda ctx, data: _arraify(ctx["$index"])

    def _TotalInvocation(self, node: dict[str, Any]) -> Closure:
        return lambda ctx, data: _arraify(ctx["$total"])

    def _InvocationExpression(self, node: dict[str, Any]) -> Closure:
        steps = [self.expression(child) for child in node["children"]]

        def invocation(ctx: dict[str, Any], data: Any) -> Any:
            for step in steps:
                data = step(ctx, data)
            return list(data)

        return invocation

    def _MemberInvocation(self, node: dict[str, Any]) -> Closure:
        from fhirpathpy.engine.nodes import ResourceNode

        key = _identifier(node["children"][0]).replace("`", "")
        create_node = ResourceNode.create_node
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
            if coll is not None and _is_some(number) and len(coll) > number and number >= 0:
                return [coll[number]]
            return []

        return indexer

    def _PolarityExpression(self, node: dict[str, Any]) -> Closure:
        from fhirpathpy.engine.util import is_number

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
            return _raiser("Not implemented " + name)
        if len(children) != 2:
            return _raiser("Infix invoke should have arity 2")  # pragma: no cover - the grammar gives two
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
            if nullable and (_is_nullable(a) or _is_nullable(b)):
                return []
            return _arraify(fn(ctx, a, b))

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
        name = _identifier(parts[0])
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
            return _raiser("Not implemented: " + str(name))
        if name in ("now", "today", "timeOfDay"):
            self.uses_clock = True
        fn = invocation["fn"]
        if "variadic" in invocation:
            raise Unsupported(name)
        nullable_input = "nullable_input" in invocation
        if "arity" not in invocation:
            if raw_params is not None and len(raw_params) > 0:
                return _raiser(name + " expects no params", nullable_input)

            def no_params(ctx: dict[str, Any], data: Any) -> Any:
                if nullable_input and _is_nullable(data):
                    return []
                return _arraify(fn(ctx, _arraify(data)))

            return no_params
        if getattr(fn, "__name__", "") == "trace_fn" and raw_params is not None:
            raw_params = raw_params[:1]
        count = len(raw_params) if isinstance(raw_params, list) else 0
        if count not in invocation["arity"]:
            return _raiser(name + " wrong arity: got " + str(count), nullable_input)
        assert raw_params is not None or count == 0
        arg_types = invocation["arity"][count]
        params = [self._param(arg_types[i], raw_params[i]) for i in range(count)]  # type: ignore[index]
        nullable = "nullable" in invocation

        def call(ctx: dict[str, Any], data: Any) -> Any:
            if nullable_input and _is_nullable(data):
                return []
            this = ctx["$this"] if "$this" in ctx else ctx["dataRoot"]
            args = [param(ctx, this) for param in params]
            if nullable and (_is_nullable(data) or any(_is_nullable(a) for a in args)):
                return []
            return _arraify(fn(ctx, data, *args))

        return call

    # --- parameters (make_param) ------------------------------------------------------------------------

    def _param(self, node_type: Any, param: dict[str, Any]) -> Closure:
        """A closure (ctx, parentData) -> the argument, as make_param(ctx, parentData, node_type, param)."""
        from fhirpathpy.engine import param_check_table

        if node_type == "Expr":
            body = self.expression(param)

            def expr(ctx: dict[str, Any], parent: Any) -> Any:
                def lambda_(data: Any) -> Any:
                    this = ctx["$this"] = _arraify(data)
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
            return _raiser("Expected identifier node")
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
        from fhirpathpy.engine.nodes import TypeInfo

        identifiers = param["text"].replace("`", "").split(".")
        if len(identifiers) == 2:
            namespace, name = identifiers
        elif len(identifiers) == 1:
            namespace, name = None, identifiers[0]
        else:
            return _raiser(f"Expected TypeSpecifier node, got {param}")
        return lambda ctx, parent: TypeInfo(name=name, namespace=namespace)


_NAVIGATIONS: dict[int, _Navigation] = {}


def _navigation(model: dict[str, Any]) -> _Navigation:
    """One navigation (and memo of child paths) per model, shared by all compiled expressions."""
    found = _NAVIGATIONS.get(id(model))
    if found is None:
        found = _NAVIGATIONS[id(model)] = _Navigation(model)
    return found


def _identifier(node: dict[str, Any]) -> str:
    if node.get("type") != "Identifier":  # pragma: no cover - the grammar gives an Identifier here
        raise Unsupported("Identifier")
    return _CAPITALS.sub("", node["text"])


def _raiser(message: str, nullable_input: bool = False) -> Closure:
    """What fhirpathpy does when it meets the fault at run time: raise (after an empty input of a function that
    takes none, which gives the empty collection first)."""

    def fail(ctx: dict[str, Any], data: Any) -> Any:
        if nullable_input and _is_nullable(data):
            return []
        raise Exception(message)

    return fail


_MEMO_LIMIT = 20_000  # child paths memoised (paths come from resourceType values, which a sender chooses)


class _Navigation:
    """fhirpathpy's member navigation (create_reduce_member_invocation), with the child paths memoised."""

    def __init__(self, model: dict[str, Any]) -> None:
        self.elsewhere: dict[str, str] = model["pathsDefinedElsewhere"]
        self.choices: dict[str, list[str]] = model["choiceTypePaths"]
        self.path2type: dict[str, str] = model["path2Type"]
        # (parent path, key) -> (child path before path2Type, choice types or None)
        self.memo: dict[tuple[Any, str], tuple[str, list[str] | None]] = {}

    def child(self, path: Any, key: str) -> tuple[str, list[str] | None]:
        memoised = type(path) is str  # a resourceType of another JSON type (1 == True == 1.0) is not
        if memoised:
            found = self.memo.get((path, key))
            if found is not None:
                return found
        child_path = f"{path}.{key}" if path else f"_.{key}"
        child_path = self.elsewhere.get(child_path, child_path)
        found = (child_path, self.choices.get(child_path))
        if memoised and len(self.memo) < _MEMO_LIMIT:
            self.memo[(path, key)] = found
        return found

    def member(self, key: str) -> Callable[[list[Any]], list[Any]]:
        from fhirpathpy.engine.nodes import FP_Quantity, ResourceNode

        path2type = self.path2type
        child = self.child
        extension_key = "_" + key
        is_extension = key == "extension"
        is_length = key == "length"
        mapping = abc.Mapping
        node = _node_class()
        # parent path -> the path of a child that is no choice (after path2Type), or None for a choice element
        plain: dict[str, str | None] = {}

        def plain_path(path: str) -> str | None:
            child_path, actual_types = child(path, key)
            found = None
            if not actual_types:
                if is_extension:
                    child_path = "Extension"
                found = path2type.get(child_path, child_path)
            if len(plain) < _MEMO_LIMIT:
                plain[path] = found
            return found

        def navigate(data: list[Any]) -> list[Any]:
            acc: list[Any] = []
            for res in data:
                if not isinstance(res, ResourceNode):
                    res = ResourceNode(res, None)
                value = res.data
                path = res.path
                if type(value) is dict and type(path) is str:
                    # the common case: a JSON object at a known path, an element that is no choice
                    target = plain[path] if path in plain else plain_path(path)
                    if target is not None:
                        for part in (value.get(key), value.get(extension_key)):
                            if part is None:
                                continue
                            if isinstance(part, list):
                                for x in part:
                                    acc.append(x if isinstance(x, ResourceNode) else node(x, target))
                            else:
                                acc.append(part if isinstance(part, ResourceNode) else node(part, target))
                        continue
                child_path, actual_types = child(path, key)
                to_add: Any = None
                to_add_: Any = None
                if isinstance(value, FP_Quantity):
                    to_add = value.value
                if actual_types and isinstance(value, mapping):
                    for actual_type in actual_types:
                        field = f"{key}{actual_type}"
                        to_add = value.get(field)
                        to_add_ = value.get(f"_{field}")
                        if to_add is not None or to_add_ is not None:
                            child_path += actual_type
                            break
                elif isinstance(value, mapping):
                    to_add = value.get(key)
                    to_add_ = value.get(extension_key)
                    if is_extension:
                        child_path = "Extension"
                elif is_length:
                    to_add = len(value)
                child_path = path2type.get(child_path, child_path)
                for part in (to_add, to_add_):
                    if part is None or (isinstance(part, list) and len(part) == 0):
                        continue
                    if isinstance(part, list):
                        for x in part:
                            acc.append(x if isinstance(x, ResourceNode) else node(x, child_path))
                    else:
                        acc.append(part if isinstance(part, ResourceNode) else node(part, child_path))
            return acc

        return navigate


def _uses_index(tree: Any) -> bool:
    """The expression reads $index or $total (which a criterion evaluated twice could see change)."""
    if isinstance(tree, dict):
        return tree.get("type") in ("IndexInvocation", "TotalInvocation") or any(
            _uses_index(c) for c in tree.get("children") or ()
        )
    return False


def _where(ctx: dict[str, Any], data: Any, expr: Callable[[Any], Any]) -> Any:
    """fhirpathpy's where_macro, each criterion evaluated once."""
    from fhirpathpy.engine.util import flatten

    if not isinstance(data, list):
        return []
    result = []
    for i, x in enumerate(data):
        ctx["$index"] = i
        found = expr(x)
        if len(found) > 0 and found[0]:
            result.append(x)
    return flatten(result)


def _exists(ctx: dict[str, Any], coll: Any, expr: Callable[[Any], Any] | None = None) -> Any:
    """fhirpathpy's exists_macro (with the where above)."""
    if expr is not None:
        coll = _where(ctx, coll, expr)
    return not (isinstance(coll, list) and len(coll) == 0)


# (path, whether TypeInfo.model is set, type name, namespace) -> is; for ResourceNodes with a str path, whose
# type fhirpathpy takes from the path alone (their data only matters without a model, for a path with a dot)
_IS_MEMO: dict[tuple[str, bool, Any, Any], bool] = {}


def _type_is(value: Any, type_info: Any) -> Any:
    """TypeInfo.from_value(value).is_(type_info), memoised where it depends on the path alone."""
    ResourceNode, TypeInfo = _FP.ResourceNode, _FP.TypeInfo

    if isinstance(value, ResourceNode) and type(value.path) is str and isinstance(type_info, TypeInfo):
        path = value.path
        modelled = bool(TypeInfo.model)
        if modelled or "." not in path or path.startswith("System."):
            key = (path, modelled, type_info.name, type_info.namespace)
            found = _IS_MEMO.get(key)
            if found is None:
                found = TypeInfo.from_value(value).is_(type_info)
                if len(_IS_MEMO) < _MEMO_LIMIT:
                    _IS_MEMO[key] = found
            return found
    return TypeInfo.from_value(value).is_(type_info)


def _is(ctx: dict[str, Any], coll: Any, type_info: Any) -> Any:
    """fhirpathpy's is_fn."""
    type_info_class: Any = _FP.TypeInfo
    type_info_class.model = ctx.get("model")
    if not coll:
        return []
    if len(coll) > 1:
        raise ValueError(f"Expected singleton on left side of 'is', got {coll}")
    return _type_is(coll[0], type_info)


def _of_type(ctx: dict[str, Any], coll: Any, type_info: Any) -> Any:
    """fhirpathpy's of_type_fn."""
    return [value for value in coll if _type_is(value, type_info)]


_NODE_CLASS: list[type] = []


def _node_class() -> type:
    """A ResourceNode with the constructor navigation needs (no _data, propName, index: fhirpathpy only reads
    propName to spell the propName of children) and a quick test for a JSON object."""
    if _NODE_CLASS:
        return _NODE_CLASS[0]
    from fhirpathpy.engine.nodes import ResourceNode

    mapping = abc.Mapping

    class Node(ResourceNode):
        def __init__(self, data: Any, path: Any) -> None:
            if type(data) is dict:
                if "resourceType" in data:
                    path = data["resourceType"]
            elif isinstance(data, mapping) and "resourceType" in data:
                path = data["resourceType"]
            self.path = path
            self.data = data
            self._data = None
            self.propName = None
            self.index = None

    _NODE_CLASS.append(Node)
    return Node


# --- native evaluation of the frequent invariants ------------------------------------------------------------
#
# The MedCom profile invariants run on every message, most of them over all entries of the Bundle. For them the
# expression is spelled out below as Python over (JSON value, path) pairs, step by step as fhirpathpy takes it
# (the same navigation, type tests, equality, three-valued logic and exceptions), without ResourceNode objects
# or closures per step. The expression text is the key: an edited definition is compiled as above instead.


class _Raises(Exception):
    """Where fhirpathpy raises (a collection where it expects one item, a value of another type)."""


Item = tuple[Any, Any]  # (JSON value, its fhirpathpy path)


def _root(node: Any, type_path: str) -> tuple[bool, list[Item]]:
    """Whether the check starts from the raw resource (else from a ResourceNode), and the root as an item."""
    raw = "resourceType" in node
    if raw:
        return True, [(node, node["resourceType"] if _is_mapping(node) else None)]
    return False, [(node, type_path)]


def _top(node: Any, type_path: str) -> list[Item]:
    return _root(node, type_path)[1]


_NOT_MAPPINGS = frozenset({str, list, int, float, bool, type(None)})


def _is_mapping(value: Any) -> bool:
    kind = type(value)
    return kind is dict or (kind not in _NOT_MAPPINGS and isinstance(value, abc.Mapping))


def _path_of(value: Any, path: Any) -> Any:
    if _is_mapping(value) and "resourceType" in value:
        return value["resourceType"]
    return path


# (parent path, key) -> the path of the child when the element is no choice (after path2Type), else None
_PLAIN: dict[tuple[str, str], str | None] = {}


def _nav(items: list[Item], key: str) -> list[Item]:
    """Member navigation, as _Navigation.member (and fhirpathpy) on ResourceNodes."""
    out: list[Item] = []
    for data, path in items:
        if type(data) is dict and type(path) is str:
            target = _PLAIN.get((path, key), _UNKNOWN)
            if target is _UNKNOWN:
                target = _plain(path, key)
            if target is not None:
                for part in (data.get(key), data.get("_" + key)):
                    if part is None:
                        continue
                    if type(part) is list:
                        for x in part:
                            if type(x) is dict:
                                out.append((x, x.get("resourceType", target)))
                            else:
                                out.append((x, _path_of(x, target)))
                    else:
                        out.append((part, _path_of(part, target)))
                continue
        if _is_mapping(data):
            navigation = _navigation(_MODEL)
            child_path, actual_types = navigation.child(path, key)
            if actual_types:
                # the first of the choice's types (in the model's order) with a value or extensions present
                order = _choice_order(key, actual_types)
                first = min((order[name] for name in data if name in order and data[name] is not None), default=None)
                to_add = to_add_ = None
                if first is not None:
                    actual_type = actual_types[first]
                    to_add = data.get(f"{key}{actual_type}")
                    to_add_ = data.get(f"_{key}{actual_type}")
                    child_path += actual_type
            else:
                to_add = data.get(key)
                to_add_ = data.get("_" + key)
                if key == "extension":
                    child_path = "Extension"
            target = navigation.path2type.get(child_path, child_path)
            for part in (to_add, to_add_):
                if part is None:
                    continue
                if isinstance(part, list):
                    out.extend((x, _path_of(x, target)) for x in part)
                else:
                    out.append((part, _path_of(part, target)))
        elif key == "length":  # pragma: no cover - no native navigates "length"
            raise Unsupported("length")
    return out


_UNKNOWN: Any = object()
# (key, id of the model's list of types) -> (that list, JSON name -> position); bounded: one per choice element
_CHOICE_ORDERS: dict[tuple[str, int], tuple[list[str], dict[str, int]]] = {}


def _choice_order(key: str, actual_types: list[str]) -> dict[str, int]:
    """JSON name (valueX and _valueX) -> the position of its type among the choice's types."""
    found = _CHOICE_ORDERS.get((key, id(actual_types)))
    if found is None or found[0] is not actual_types:
        order: dict[str, int] = {}
        for i, actual_type in enumerate(actual_types):
            order.setdefault(f"{key}{actual_type}", i)
            order.setdefault(f"_{key}{actual_type}", i)
        found = _CHOICE_ORDERS[(key, id(actual_types))] = (actual_types, order)
    return found[1]


def _plain(path: str, key: str) -> str | None:
    navigation = _navigation(_model())
    child_path, actual_types = navigation.child(path, key)
    target = None
    if not actual_types:
        target = navigation.path2type.get("Extension" if key == "extension" else child_path)
        if target is None:
            target = "Extension" if key == "extension" else child_path
    if len(_PLAIN) < _MEMO_LIMIT:
        _PLAIN[(path, key)] = target
    return target


def _model() -> dict[str, Any]:
    from fhirpathpy.models import models

    model: dict[str, Any] = models["r4"]
    return model


def _named(raw: bool, items: list[Item], key: str) -> list[Item]:
    """A capitalised name at the root: the raw resource when it has that type, else navigation."""
    if raw:
        data = items[0][0]
        try:
            return [(data, _path_of(data, key))] if data["resourceType"] == key else []
        except TypeError:
            pass
    return _nav(items, key)


def _pair_is(item: Item, type_info: Any) -> Any:
    """TypeInfo.from_value(ResourceNode(value, path)).is_(type_info)."""
    data, path = item
    if type(path) is str:
        modelled = bool(_FP.TypeInfo.model)
        if modelled or "." not in path or path.startswith("System."):
            key = (path, modelled, type_info.name, type_info.namespace)
            found = _IS_MEMO.get(key)
            if found is None:
                found = _FP.TypeInfo.from_value(_FP.ResourceNode(data, path)).is_(type_info)
                if len(_IS_MEMO) < _MEMO_LIMIT:
                    _IS_MEMO[key] = found
            return found
    return _FP.TypeInfo.from_value(_FP.ResourceNode(data, path)).is_(type_info)


def _pairs_of_type(items: list[Item], type_info: Any) -> list[Item]:
    """ofType: the items whose type is type_info (_pair_is, its memo consulted here first)."""
    modelled = bool(_FP.TypeInfo.model)
    name, namespace = type_info.name, type_info.namespace
    found = []
    for item in items:
        path = item[1]
        # a memo entry exists only for a path whose type the path alone decides (see _pair_is)
        known = _IS_MEMO.get((path, modelled, name, namespace)) if type(path) is str else None
        if known if known is not None else _pair_is(item, type_info):
            found.append(item)
    return found


def _equals(items: list[Item], literal: str) -> bool | None:
    """items = 'literal': None for the empty collection (the operator's result is empty), else the boolean."""
    if not items:
        return None
    if len(items) != 1:
        return False
    data, path = items[0]
    if path is None:
        return bool(data == literal)
    if type(path) is not str:
        raise _Raises("a path fhirpathpy cannot type")  # re.match on it raises
    if "Quantity" in path:  # equality converts a Quantity first: let fhirpathpy compare
        from fhirpathpy.engine.invocations.equality import equality

        return bool(equality(None, [_FP.ResourceNode(data, path)], [literal]))
    return bool(data == literal)


def _single_string(items: list[Item]) -> str:
    """ensure_string_singleton."""
    if len(items) != 1 or not isinstance(items[0][0], str):
        raise _Raises("expected one string")
    value: str = items[0][0]
    return value


def _starts_with(items: list[Item], prefix: str) -> bool | None:
    if not items:
        return None
    value = _single_string(items)
    return bool(value) and value.startswith(prefix)


class _FP:
    """fhirpathpy's classes, imported once (this module is only imported when rules are loaded)."""

    from fhirpathpy.engine.nodes import FP_Type, ResourceNode, TypeInfo


def _set_model() -> None:
    """What is_fn does first (and of_type_fn later reads)."""
    type_info: Any = _FP.TypeInfo
    type_info.model = _MODEL


_MODEL = _model()


def _type(name: str) -> Any:
    return _FP.TypeInfo(name=name, namespace=None)


class _TypeInfos(dict[str, Any]):
    """Type name -> its TypeInfo (as a type specifier in an expression gives it; is_ only reads it)."""

    def __missing__(self, name: str) -> Any:
        found = self[name] = _type(name)
        return found


_TYPES = _TypeInfos()


def _count_is_one(resource_type: str) -> Check:
    """entry.where(resource.is(T)).count() = 1"""
    target = _type(resource_type)

    def native(node: Any, resource: Any, root: Any, type_path: str) -> bool:
        top = _top(node, type_path)
        usual = _usual_entry_resources(top)
        if usual is not None:  # each entry has at most one resource: the criterion never raises
            if top[0][0].get("entry"):
                _set_model()
            return len(_pairs_of_type(usual, target)) == 1
        count = 0
        for entry in _nav(top, "entry"):
            _set_model()
            found = _nav([entry], "resource")
            if not found:
                continue
            if len(found) > 1:
                raise _Raises("is() on more than one item")
            if _pair_is(found[0], target):
                count += 1
        return count == 1

    return native


def _entry_resources(top: list[Item]) -> list[Item]:
    """entry.resource: _nav(_nav(top, "entry"), "resource")."""
    found = _usual_entry_resources(top)
    return _nav(_nav(top, "entry"), "resource") if found is None else found


def _usual_entry_resources(top: list[Item]) -> list[Item] | None:
    """entry.resource directly, for a Bundle of the usual shape (entries that are objects with at most one
    resource, an object); None for any other shape."""
    if len(top) == 1:
        bundle, path = top[0]
        entry_path = _PLAIN.get((path, "entry"), _UNKNOWN) if type(path) is str else None
        resource_path = _PLAIN.get((entry_path, "resource"), _UNKNOWN) if type(entry_path) is str else None
        entries = bundle.get("entry") if type(bundle) is dict and "_entry" not in bundle else None
        if type(entries) is list and type(resource_path) is str:
            found: list[Item] = []
            for entry in entries:
                if type(entry) is not dict or "resourceType" in entry or "_resource" in entry:
                    break  # an entry of another shape: navigate
                resource = entry.get("resource")
                if type(resource) is dict:
                    found.append((resource, resource.get("resourceType", resource_path)))
                elif resource is not None:
                    break
            else:
                return found
    return None


def _entries_of_type(top: list[Item], type_info: Any) -> list[Item]:
    """entry.ofType(T): _pairs_of_type(_nav(top, "entry"), T); at once for entries that are all objects
    without a resourceType (their path is the same, and so is their type: none is T but a supertype of it)."""
    if len(top) == 1:
        data, path = top[0]
        if type(data) is dict and type(path) is str and "_entry" not in data:
            target = _PLAIN.get((path, "entry"))
            entries = data.get("entry")
            if (
                type(target) is str
                and type(entries) is list
                and all(type(entry) is dict and "resourceType" not in entry for entry in entries)
            ):
                if not entries or not _pair_is((entries[0], target), type_info):
                    return []
                return [(entry, target) for entry in entries]
    return _pairs_of_type(_nav(top, "entry"), type_info)


def _first_entry(top: list[Item]) -> list[Item]:
    """entry[0]: _nav(top, "entry")[:1], without navigating every entry."""
    if len(top) == 1:
        data, path = top[0]
        if type(data) is dict and type(path) is str:
            target = _PLAIN.get((path, "entry"))
            entries = data.get("entry")
            if type(target) is str and type(entries) is list and entries:
                return [(entries[0], _path_of(entries[0], target))]
    return _nav(top, "entry")[:1]


def _resources(top: list[Item], resource_type: str) -> list[Item]:
    """entry.resource.ofType(T)"""
    return _pairs_of_type(_entry_resources(top), _TYPES[resource_type])


def _hn_1(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    # entry.ofType(MessageHeader).all(resource.conformsTo(...)): conformsTo gives true per item, all() needs one
    top = _top(node, type_path)
    headers = _entries_of_type(top, _TYPES["MessageHeader"])
    return all(len(_nav([entry], "resource")) == 1 for entry in headers)


def _hn_3(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    # entry.ofType(Provenance).all(resource.activity.memberOf(...)): likewise
    top = _top(node, type_path)
    return all(
        len(_nav(_nav([entry], "resource"), "activity")) == 1 for entry in _entries_of_type(top, _TYPES["Provenance"])
    )


def _hn_4(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    top = _top(node, type_path)
    systems = _nav(_nav(_resources(top, "Patient"), "identifier"), "system")
    return _equals(systems, "urn:oid:1.2.208.176.1.2") is not False


def _hn_5(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    raw, top = _root(node, type_path)
    headers = _pairs_of_type(_entry_resources(_named(raw, top, "Bundle")), _TYPES["MessageHeader"])
    codes = _nav(_nav(_nav(_nav(headers, "destination"), "extension"), "value"), "code")
    return _equals(codes, "primary") is not False


def _hn_6(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    # where(status = 'onleave').extension.value.start.exists() or status != 'onleave'
    top = _top(node, type_path)
    on_leave = _equals(_nav(top, "status"), "onleave")
    kept = top if on_leave else []
    left = bool(_nav(_nav(_nav(kept, "extension"), "value"), "start"))
    if on_leave is None:  # status is empty, so != is empty: (left or {}) is true or empty
        return True
    return left or not on_leave


def _cc_1(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    top = _top(node, type_path)
    first = _first_entry(top)
    headers = _pairs_of_type(_nav(first, "resource"), _TYPES["MessageHeader"])
    profiles = _nav(_nav(headers, "meta"), "profile")
    prefix = "http://medcomfhir.dk/ig/carecommunication/StructureDefinition/medcom-careCommunication-messageHeader"
    return _starts_with(profiles, prefix) is not False


def _cc_3(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    top = _top(node, type_path)
    prefix = "http://medcomfhir.dk/ig/carecommunication/StructureDefinition/medcom-careCommunication-provenance"
    for provenance in _resources(top, "Provenance"):
        if _starts_with(_nav(_nav([provenance], "meta"), "profile"), prefix) is not True:
            return False
    return True


def _cc_4(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    top = _top(node, type_path)
    return bool(_nav(_resources(top, "Practitioner"), "name"))


def _cc_5(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    # where(category.coding.code != 'regarding-referral').priority.empty()
    top = _top(node, type_path)
    referral = _equals(_nav(_nav(_nav(top, "category"), "coding"), "code"), "regarding-referral")
    if referral is None or referral:
        return True
    return not _nav(top, "priority")


def _cc_6(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    # iif(category.coding.code != 'other', true, category.coding.code = 'other' and topic.exists())
    top = _top(node, type_path)
    other = _equals(_nav(_nav(_nav(top, "category"), "coding"), "code"), "other")
    if other is False:
        return True
    return bool(_nav(top, "topic"))  # ({} and b) is empty when b, else false; (true and b) is b


def _cc_13(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    raw, top = _root(node, type_path)
    roles = _pairs_of_type(_entry_resources(_named(raw, top, "Bundle")), _TYPES["PractitionerRole"])
    return bool(_nav(_nav(roles, "practitioner"), "reference"))


def _cc_15(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    # iif(encounter.exists(), Communication.encounter.reference.exists(), Communication.encounter.exists().not())
    raw, top = _root(node, type_path)
    encounters = _nav(_named(raw, top, "Communication"), "encounter")
    if _nav(top, "encounter"):
        return bool(_nav(encounters, "reference"))
    return not encounters


_UUID = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.DOTALL)


def _uuid_value(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    top = _top(node, type_path)
    values = _nav(top, "value")
    if not values:
        return True
    return _UUID.search(_single_string(values)) is not None


def _holds_cc_9(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    # iif(encounter.exists().not(), true, encounter.reference.resolve()...): true without an encounter, and
    # with one fhirpathpy raises at resolve(), which it does not have
    return True


def _not_home(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    # where(use = 'home').empty()
    top = _top(node, type_path)
    return not _equals(_nav(top, "use"), "home")


def _pat_1(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    top = _top(node, type_path)
    return any(_nav(top, key) for key in ("name", "telecom", "address", "organization"))


_NATIVE: dict[str, Check] = {
    "entry.where(resource.is(Patient)).count() = 1": _count_is_one("Patient"),
    "entry.ofType(MessageHeader).all(resource.conformsTo('http://medcomfhir.dk/fhir/hospitalnotification/"
    "StructureDefinition/medcom-hospitalNotification-messageHeader'))": _hn_1,
    "entry.ofType(Provenance).all(resource.activity.memberOf('http://medcomfhir.dk/fhir/dk-medcom-terminology/"
    "ValueSet/medcom-hospitalNotification-messageActivities'))": _hn_3,
    "entry.resource.ofType(Patient).identifier.system = 'urn:oid:1.2.208.176.1.2'": _hn_4,
    "Bundle.entry.resource.ofType(MessageHeader).destination.extension.value.code = 'primary'": _hn_5,
    "where(status = 'onleave').extension.value.start.exists() or status != 'onleave'": _hn_6,
    "entry[0].resource.ofType(MessageHeader).meta.profile.startsWith('http://medcomfhir.dk/ig/carecommunication/"
    "StructureDefinition/medcom-careCommunication-messageHeader')": _cc_1,
    "entry.resource.ofType(Provenance).all(meta.profile.startsWith('http://medcomfhir.dk/ig/carecommunication/"
    "StructureDefinition/medcom-careCommunication-provenance'))": _cc_3,
    "entry.resource.ofType(Practitioner).name.exists()": _cc_4,
    "where(category.coding.code != 'regarding-referral').priority.empty()": _cc_5,
    "iif(category.coding.code != 'other', true, category.coding.code = 'other' and topic.exists())": _cc_6,
    "Bundle.entry.resource.ofType(PractitionerRole).practitioner.reference.exists()": _cc_13,
    "iif(encounter.exists(), Communication.encounter.reference.exists(), Communication.encounter.exists().not())": (
        _cc_15
    ),
    "value.matches('urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')": _uuid_value,
    "where(use = 'home').empty()": _not_home,
    "iif(encounter.exists().not(), true, encounter.reference.resolve().episodeOfCare.identifier.exists())": (
        _holds_cc_9
    ),
    "name.exists() or telecom.exists() or address.exists() or organization.exists()": _pat_1,
}


def _native(fn: Check) -> Check:
    def check(node: Any, resource: Any, root: Any, type_path: str) -> bool:
        try:
            return fn(node, resource, root, type_path)
        except Exception:  # where fhirpathpy raises: not held against the content (as rules._Fhirpath)
            return True

    return check
