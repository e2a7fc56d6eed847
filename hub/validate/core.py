"""FHIR R4 structure from the compiled core rules: one iterative walk over the JSON, no models.

Checked per element: known names (unknown elements are errors), JSON kinds, arrays for repeating elements and
single values otherwise, cardinality, choice types, primitive formats (regexes of the R4 definitions, calendar
dates, timezones, integer ranges, 1 MB strings), no null / empty object / empty array / empty string, required
bindings against the locally expanded value sets, resource ids, known extensions and their value types, and the
invariants of the definitions (a few frequent ones natively, the rest with fhirpathpy compiled at start-up).
Bundles: fullUrl absolute and unique, consistent with the resource id, the first entry of a message/document.

Here: the entry points, the state of one validation, the walk (its hot loop over the properties of each object)
and the checks of an object as a whole. A property the loop's shortcuts do not take is checked in
hub.validate.elements; the checks of a few types beyond the definitions (Extension, Bundle, ...) are in
hub.validate.special.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from hub.domain.outcome import Issue, Severity, error
from hub.validate import paths
from hub.validate.elements import check_element, resource_type_rule
from hub.validate.fhirpath.resolution import within
from hub.validate.rules import OBJECTS, SINGLE_OBJECT, SINGLE_VALUE, VALUES, Invariant, Rules, TypeRule, describe, quote
from hub.validate.special import check_special

# The path of an element: None at the top, else (the parent's path, JSON key or array index). Made in O(1) per
# element; where() spells it as FHIRPath, only for an issue.
Path_ = tuple[Any, str | int] | None
# An object the walk is still to visit: (the object, its type, its path, the resource it is in, the root resource)
Frame = tuple[dict[str, Any], TypeRule, Path_, dict[str, Any], dict[str, Any]]
# an Identifier (or an Extension) met by the walk: the object, its path, the resource holding it
FoundIdentifier = tuple[dict[str, Any], Path_, dict[str, Any]]
# The choice elements present in an object: stem -> their JSON names present (x and _x alike); None before the first
Chosen = dict[str, list[str]] | None


@dataclass(frozen=True, slots=True)
class Options:
    """Policies beyond the definitions (the HL7 validator has the same switches)."""

    security_checks: bool = True  # no HTML tags that could run (script, iframe, ...) in strings
    no_html_in_markdown: bool = False  # markdown with any HTML tag is an error
    allow_example_urls: bool = True  # example.org URLs in uri/url elements
    check_contained: bool = True  # validate contained resources
    resolve_references: bool = False  # Type/id references in a Parameters resource must resolve inside it


DEFAULT_OPTIONS = Options()


def keys(parts: Path_) -> list[str | int]:
    """The JSON keys and indexes of a path, from the root: the chain (parent, key) from the root (None)."""
    found: list[str | int] = []
    while parts is not None:
        parts, key = parts
        found.append(key)
    found.reverse()
    return found


def where(parts: Path_, root: str) -> str:
    """The FHIRPath of a path: the chain (parent, key) from the root (None) to the element."""
    return paths.from_parts(keys(parts), root)


class Walk:
    """The state of one validation: issues, invariants that do not hold, options."""

    __slots__ = (
        "extension_type",
        "failed",
        "identifier_type",
        "identifiers",
        "issues",
        "options",
        "root",
        "rules",
        "strict_extensions",
    )

    def __init__(
        self,
        rules: Rules,
        root: str,
        strict_extensions: bool = True,
        options: Options | None = None,
        identifiers: list[FoundIdentifier] | None = None,
    ) -> None:
        self.rules = rules
        # the Identifier objects met on the way are added to identifiers (when given), for the profiles layer,
        self.identifiers = identifiers
        self.identifier_type = rules.types.get("Identifier") if identifiers is not None else None
        # and the Extension objects: an extension's own definition applies wherever it appears
        self.extension_type = rules.types.get("Extension") if identifiers is not None else None
        self.strict_extensions = strict_extensions
        self.options = options or DEFAULT_OPTIONS
        self.root = root
        self.issues: list[Issue] = []
        # the invariants that do not hold, where: checked as the walk meets them, reported after its other issues
        self.failed: list[tuple[Invariant, Path_]] = []

    def err(self, code: str, parts: Path_, text: str) -> None:
        self.issues.append(error(code, where(parts, self.root), text))

    def warn(self, code: str, parts: Path_, text: str) -> None:
        self.issues.append(Issue(Severity.WARNING, code, where(parts, self.root), text))


def check_resource(
    resource: dict[str, Any],
    rules: Rules,
    root: str | None = None,
    *,
    strict_extensions: bool = True,
    options: Options | None = None,
    identifiers: list[FoundIdentifier] | None = None,
) -> list[Issue]:
    """All core-definition issues of one resource (a parsed JSON object). root names the top of the paths.

    strict_extensions: an extension whose definition is not in schemas/ is an error (the hub's policy for
    messages, and the HL7 validator's default); otherwise only an unknown one in the FHIR core namespace is.
    identifiers: when given, every Identifier- and Extension-typed object the walk meets is added to it
    (hub.validate.profiles checks them against the identifier profiles of their systems and the definitions of
    their extension urls), found by the R4 types, once.
    """
    resource_type = resource.get("resourceType")
    top = root or (resource_type if isinstance(resource_type, str) and resource_type in rules.types else "Resource")
    walk = Walk(rules, top, strict_extensions, options, identifiers)
    with within(resource):  # resolve() in an invariant looks in this resource, when it is a Bundle
        _walk_resource(walk, resource, None)
    _evaluate(walk)
    return walk.issues


def _walk_resource(walk: Walk, resource: dict[str, Any], parts: Path_) -> None:
    type_rule = resource_type_rule(walk, resource, parts)
    if type_rule is None:
        return
    _walk(walk, resource, type_rule, parts)


# --- the walk -------------------------------------------------------------------------------------------------


def _walk(walk: Walk, top: dict[str, Any], top_type: TypeRule, top_parts: Path_) -> None:
    """Every object under top, depth first from a stack; each object's properties in their order.

    The hot loop: per property one dict lookup for its rule, whose check, child type and flags load_rules
    prepared. The common shapes (ElementRule.shape) are taken here, each exactly as check_element would take it;
    any other property goes to check_element. A path is a (parent, key) pair, made into a FHIRPath only for an
    issue. Then the invariants of the object's type, and _check_object only for a type that has more to check.
    """
    quick = walk.options.allow_example_urls  # ElementRule.accept leaves example URLs to the full path
    stack: list[Frame] = [(top, top_type, top_parts, top, top)]
    push = stack.append
    pop = stack.pop
    identifier_type = walk.identifier_type  # (None unless the walk collects identifiers)
    extension_type = walk.extension_type
    while stack:
        obj, type_rule, parts, resource, root = pop()
        if type_rule is identifier_type or type_rule is extension_type:
            walk.identifiers.append((obj, parts, resource))  # type: ignore[union-attr]
        if not obj:
            walk.err("structure", parts, "an empty JSON object is not allowed; leave the element out")
            continue
        get_rule = type_rule.elements.get
        chosen: Chosen = None
        for key, value in obj.items():
            rule = get_rule(key)
            if rule is not None:
                shape = rule.shape
                if shape == SINGLE_VALUE:
                    if quick and rule.accept(value):
                        continue  # a valid primitive value with nothing more to check
                elif shape == SINGLE_OBJECT:
                    child = rule.target
                    if type(value) is dict and child is not None:
                        push((value, child, (parts, key), resource, root))
                        continue
                elif shape == VALUES:
                    if (
                        quick
                        and type(value) is list
                        and value
                        and (rule.max < 0 or len(value) <= rule.max)
                        and all(map(rule.accept, value))
                    ):
                        continue  # valid primitive values with nothing more to check
                elif shape == OBJECTS and type(value) is list and value and (rule.max < 0 or len(value) <= rule.max):
                    child = rule.target
                    if child is not None:
                        here = (parts, key)
                        for i, item in enumerate(value):
                            if type(item) is dict:
                                push((item, child, (here, i), resource, root))
                            else:
                                text = f"expected a JSON object (an element), found {describe(item)}"
                                walk.err("structure", (here, i), text)
                        continue
            elif key == "resourceType" and type_rule.is_resource:
                continue  # (the resource's type, read by resource_type_rule; no element rule names it)
            chosen = check_element(walk, obj, type_rule, key, value, rule, parts, stack, resource, root, chosen)
        for inv in type_rule.invariants:  # (noted here, reported after all other issues)
            holds = inv.check
            if holds is not None and not holds(obj, resource, root, type_rule.name):
                walk.failed.append((inv, parts))
        if type_rule.presence or type_rule.choices or type_rule.special:
            _check_object(walk, obj, type_rule, parts, chosen)


# --- an object as a whole -------------------------------------------------------------------------------------


def _check_object(walk: Walk, obj: dict[str, Any], type_rule: TypeRule, parts: Path_, chosen: Chosen) -> None:
    """After its properties, the rest of what holds for an object as a whole (its type's invariants are noted in
    _walk): its required elements are present, one type of each choice element, and the checks of
    hub.validate.special for a few types."""
    for name, extension_name, low in type_rule.presence:
        if name not in obj and extension_name not in obj:
            walk.err(
                "required", (parts, name), f"the required element {quote(name)} is missing (minimum cardinality {low})"
            )
    if type_rule.choices:
        _check_choices(walk, obj, type_rule, parts, chosen)
    if type_rule.special:
        check_special(walk, obj, type_rule.special, parts)


def _check_choices(walk: Walk, obj: dict[str, Any], type_rule: TypeRule, parts: Path_, chosen: Chosen) -> None:
    """At most one type of each choice element of the object, and one when the element is required."""
    for stem, (low, names) in type_rule.choices.items():
        found = chosen.get(stem) if chosen is not None else None
        if found is not None and len(found) > 1:
            present = [n for n in names if n in obj or ("_" + n) in obj]
            walk.err(
                "structure",
                parts,
                f"more than one type of the choice element {stem}[x] is present: {', '.join(present)}",
            )
        elif low and found is None:
            shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
            walk.err("required", parts, f"one of the elements {shown} is required; none is present")


def _evaluate(walk: Walk) -> None:
    for inv, parts in walk.failed:
        text = f"{inv.key}: {inv.human}"
        if inv.severity == "error":
            walk.err("invariant", parts, text)
        else:
            walk.warn("invariant", parts, text)
    walk.failed.clear()


def validate_json(
    raw: bytes, rules: Rules, *, strict_extensions: bool = True, options: Options | None = None, max_depth: int = 100
) -> list[Issue]:
    """Any FHIR R4 resource as raw JSON bytes (not only a Bundle) against the core rules; never raises."""
    from hub.validate.envelope import UTF8_BOM, read_envelope

    body = raw[len(UTF8_BOM) :] if raw.startswith(UTF8_BOM) else raw
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return list(read_envelope(raw, max_bytes=len(raw) + 1).issues)
    if not isinstance(document, dict):
        return [Issue(Severity.FATAL, "structure", None, "expected a JSON object (a resource)")]
    wrapped = {"resourceType": "Bundle", "entry": [{"resource": document}]}
    deep = read_envelope(orjson.dumps(wrapped), max_bytes=len(raw) * 2 + 100, max_depth=max_depth + 2)
    if not deep.ok:
        return [Issue(Severity.FATAL, "too-costly", None, "the JSON is nested too deep")]
    return check_resource(document, rules, strict_extensions=strict_extensions, options=options)
