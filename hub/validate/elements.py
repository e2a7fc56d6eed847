"""The checks of one property of an object, by what FHIR defines it to be, for the walk of hub.validate.core.

check_element takes a property the walk's shortcuts (ElementRule.shape) did not: a primitive value (its JSON kind
and format, HTML in text, example URLs, the required binding, invariants), an element of a complex type (its
binding and invariants; its own properties are visited later, from the walk's stack), a resource in an element
(contained, Bundle.entry.resource, Parameters.parameter.resource), the id and extensions of a primitive (`_x`),
a repeating element (an array within its cardinality), a part of a choice element, and a name FHIR does not
define. Each problem is worded here; the path of an element is made only for an issue.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from hub.validate.rules import COMPLEX, PRIMITIVE, RESOURCE, ElementRule, TypeRule, describe, quote

if TYPE_CHECKING:
    from hub.validate.core import Chosen, Frame, Path_, Walk

_HTML_TAG = re.compile(r"<(script|iframe|object|embed|form|style|link|meta)\b", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[A-Za-z/]")
_EXAMPLE_URL = re.compile(r"https?://([a-z0-9.-]*\.)?example\.(org|com)(/|$)")


def resource_type_rule(walk: Walk, value: dict[str, Any], parts: Path_) -> TypeRule | None:
    """The type of a resource (a JSON object) by its resourceType; None, with the issue, when it names none."""
    resource_type = value.get("resourceType")
    rules = walk.rules
    if resource_type is None:
        walk.err("required", (parts, "resourceType"), "a resource must name its resourceType")
        return None
    if not isinstance(resource_type, str) or resource_type not in rules.resource_types:
        shown = quote(resource_type) if isinstance(resource_type, str) else describe(resource_type)
        walk.err("structure", (parts, "resourceType"), f"{shown} is not a FHIR R4 resource type")
        return None
    return rules.types[resource_type]


def check_element(
    walk: Walk,
    obj: dict[str, Any],
    type_rule: TypeRule,
    key: str,
    value: Any,
    rule: ElementRule | None,
    parts: Path_,
    stack: list[Frame],
    resource: dict[str, Any],
    root: dict[str, Any],
    chosen: Chosen,
) -> Chosen:
    """A property of obj that the walk's shortcuts did not take: every check, and the wording of any problem.

    Returns chosen, with the property noted when it is (the extensions of) an element of a choice.
    """
    if rule is None:
        return _undefined(walk, obj, type_rule, key, value, parts, stack, resource, root, chosen)
    if rule.choice is not None:
        chosen = _chosen(chosen, rule.choice, rule.name)
    if value is None:
        walk.err("structure", (parts, key), "null is not allowed; leave the element out")
    elif rule.is_list:
        _element_list(walk, obj, key, value, rule, (parts, key), stack, resource, root)
    elif type(value) is list:
        walk.err("structure", (parts, key), f"{key} is a single element: expected no JSON array")
    elif rule.kind == PRIMITIVE:
        _primitive(walk, value, rule, parts, key, resource, root)
    elif type(value) is not dict:
        what = "a resource" if rule.kind == RESOURCE else "an element"
        walk.err("structure", (parts, key), f"expected a JSON object ({what}), found {describe(value)}")
    elif rule.kind == COMPLEX:
        _complex(walk, value, rule, (parts, key), stack, resource, root)
    else:
        _resource_item(walk, key, value, rule, (parts, key), stack, resource, root)
    return chosen


def _undefined(
    walk: Walk,
    obj: dict[str, Any],
    type_rule: TypeRule,
    key: str,
    value: Any,
    parts: Path_,
    stack: list[Frame],
    resource: dict[str, Any],
    root: dict[str, Any],
    chosen: Chosen,
) -> Chosen:
    """A property no element rule names (other than a resource's resourceType, which the walk skips): the id and
    extensions of a primitive element (`_x`, beside its value `x`), or an element FHIR does not define."""
    if key[:1] == "_" and len(key) > 1:
        base = type_rule.elements.get(key[1:])
        if base is not None and base.choice is not None:
            chosen = _chosen(chosen, base.choice, base.name)
        if base is not None and base.kind == PRIMITIVE:
            _primitive_part(walk, value, base.is_list, (parts, key), obj.get(key[1:]), stack, resource, root)
            return chosen
    walk.err(
        "structure", (parts, key), f"unknown element {quote(key)}: FHIR R4 defines no such element in {type_rule.name}"
    )
    return chosen


def _element_list(
    walk: Walk,
    obj: dict[str, Any],
    key: str,
    value: Any,
    rule: ElementRule,
    here: Path_,
    stack: list[Frame],
    resource: dict[str, Any],
    root: dict[str, Any],
) -> None:
    """A repeating element: a JSON array, not empty, of at most its maximum of items; each item by its kind."""
    if type(value) is not list:
        walk.err("structure", here, f"expected a JSON array, found {describe(value)}")
        return
    if not value:
        walk.err("structure", here, "an empty JSON array is not allowed; leave the element out")
        return
    if 0 <= rule.max < len(value):
        walk.err("structure", here, f"{key} has {len(value)} items; at most {rule.max} allowed")
    kind = rule.kind
    if kind == COMPLEX:
        for i, item in enumerate(value):
            if type(item) is dict:
                _complex(walk, item, rule, (here, i), stack, resource, root)
            else:
                walk.err("structure", (here, i), f"expected a JSON object (an element), found {describe(item)}")
    elif kind == PRIMITIVE:
        for i, item in enumerate(value):
            if item is not None:
                _primitive(walk, item, rule, here, i, resource, root)
            elif ("_" + key) not in obj:  # (a null that keeps a value and its extensions `_x` aligned is allowed)
                walk.err("structure", (here, i), "null is not allowed; leave the element out")
    else:
        for i, item in enumerate(value):
            _resource_item(walk, key, item, rule, (here, i), stack, resource, root)


def _primitive(
    walk: Walk,
    value: Any,
    rule: ElementRule,
    parent: Path_,
    key: str | int,
    resource: dict[str, Any],
    root: dict[str, Any],
) -> None:
    """A primitive value (not null) at (parent, key): its JSON kind and format, HTML in text, example URLs, the
    required binding, its invariants. The path is made only for an issue."""
    check = rule.check
    assert check is not None, "load_rules gives every primitive element its check"
    problem = check(value)
    if problem is not None:
        walk.err("structure" if problem.startswith("expected a JSON") else "value", (parent, key), problem)
        return
    if rule.text:
        if "<" in value:
            _check_html(walk, value, rule.type, (parent, key))
    elif rule.url and not walk.options.allow_example_urls and _example_url(value):
        walk.err("value", (parent, key), f"example URLs are not allowed here: {quote(value, 80)}")
    if rule.codes is not None and value not in rule.codes:
        walk.err(
            "code-invalid", (parent, key), f"the code {quote(value)} is not in the required value set {rule.binding}"
        )
    for inv in rule.invariants:
        holds = inv.check
        if holds is not None and not holds(value, resource, root, rule.type):
            walk.failed.append((inv, (parent, key)))


def _complex(
    walk: Walk,
    value: dict[str, Any],
    rule: ElementRule,
    at: Path_,
    stack: list[Frame],
    resource: dict[str, Any],
    root: dict[str, Any],
) -> None:
    """An element of a complex type (a JSON object): its properties are visited from the stack; the required
    binding of a Coding or CodeableConcept and the element's invariants are checked now."""
    child = rule.target
    if child is None:
        return
    stack.append((value, child, at, resource, root))
    pairs = rule.pairs
    if pairs is not None:
        _check_coded(walk, value, rule, pairs, at)
    for inv in rule.invariants:
        holds = inv.check
        if holds is not None and not holds(value, resource, root, rule.type):
            walk.failed.append((inv, at))


def _resource_item(
    walk: Walk,
    key: str,
    item: Any,
    rule: ElementRule,
    at: Path_,
    stack: list[Frame],
    resource: dict[str, Any],
    root: dict[str, Any],
) -> None:
    """A resource in an element: contained, Bundle.entry.resource, Parameters.parameter.resource."""
    if type(item) is not dict:
        walk.err("structure", at, f"expected a JSON object (a resource), found {describe(item)}")
        return
    child = resource_type_rule(walk, item, at)
    if child is None:
        return
    if key == "contained":
        if not walk.options.check_contained:
            return
        if "contained" in item:
            walk.err("structure", (at, "contained"), "a contained resource cannot contain resources (dom-2)")
        meta = item.get("meta")
        if isinstance(meta, dict) and ("versionId" in meta or "lastUpdated" in meta):
            walk.err(
                "invariant",
                (at, "meta"),
                "a contained resource has no meta.versionId or meta.lastUpdated (dom-4)",
            )
        stack.append((item, child, at, item, root))
    else:
        stack.append((item, child, at, item, item))
    for inv in rule.invariants:
        holds = inv.check
        if holds is not None and not holds(item, resource, root, rule.type):
            walk.failed.append((inv, at))


def _primitive_part(
    walk: Walk,
    value: Any,
    is_list: bool,
    parts: Path_,
    sibling: Any,
    stack: list[Frame],
    resource: dict[str, Any],
    root: dict[str, Any],
) -> None:
    """The id and extensions of a primitive element (`_x`): an object, or an array of objects and nulls as long
    as the array of values (`x`) beside it; each object is walked as an Element."""
    element = walk.rules.types["@primitive"]
    if is_list:
        if type(value) is not list:
            walk.err("structure", parts, f"expected a JSON array, found {describe(value)}")
            return
        if isinstance(sibling, list) and len(sibling) != len(value):
            walk.err("structure", parts, "the array of extensions must have as many items as the array of values")
        for i, item in enumerate(value):
            if item is None:
                continue
            if type(item) is not dict:
                walk.err(
                    "structure",
                    (parts, i),
                    f"expected a JSON object (id and extensions of a primitive), found {describe(item)}",
                )
            else:
                stack.append((item, element, (parts, i), resource, root))
        return
    if type(value) is not dict:
        walk.err(
            "structure", parts, f"expected a JSON object (id and extensions of a primitive), found {describe(value)}"
        )
        return
    stack.append((value, element, parts, resource, root))


def _check_html(walk: Walk, value: str, type_name: str, at: Path_) -> None:
    if walk.options.security_checks and _HTML_TAG.search(value):
        walk.err("security", at, "the text contains an HTML tag that could run as code (e.g. <script>); not allowed")
    elif type_name == "markdown" and walk.options.no_html_in_markdown and _ANY_TAG.search(value):
        walk.err("value", at, "the markdown contains an HTML tag; HTML is not allowed in markdown here")


def _check_coded(
    walk: Walk, item: dict[str, Any], rule: ElementRule, pairs: frozenset[tuple[str, str]], at: Path_
) -> None:
    """A Coding or CodeableConcept with a code in the required value set (pairs: its (system, code) members)."""
    if rule.type == "Coding":
        system, code = item.get("system"), item.get("code")
        if isinstance(code, str) and isinstance(system, str) and (system, code) not in pairs:
            walk.err("code-invalid", at, f"the code {system}#{code} is not in the required value set {rule.binding}")
    elif rule.type == "CodeableConcept":
        codings = item.get("coding")
        if not isinstance(codings, list) or not codings:
            return
        known = [c for c in codings if isinstance(c, dict) and isinstance(c.get("code"), str)]
        if known and not any((c.get("system"), c.get("code")) in pairs for c in known):
            shown = ", ".join(f"{c.get('system')}#{c.get('code')}" for c in known[:3])
            walk.err("code-invalid", at, f"no coding ({quote(shown, 80)}) is in the required value set {rule.binding}")


def _example_url(value: str) -> bool:
    return bool(_EXAMPLE_URL.match(value))


def _chosen(chosen: Chosen, stem: str, name: str) -> dict[str, list[str]]:
    """Notes that the element name of the choice stem is present (its value x or its extensions _x)."""
    if chosen is None:
        chosen = {}
    names = chosen.setdefault(stem, [])
    if name not in names:
        names.append(name)
    return chosen
