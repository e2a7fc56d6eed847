"""FHIR R4 structure from the compiled core rules: one iterative walk over the JSON, no models.

Checked per element: known names (unknown elements are errors), JSON kinds, arrays for repeating elements and
single values otherwise, cardinality, choice types, primitive formats (regexes of the R4 definitions, calendar
dates, timezones, integer ranges, 1 MB strings), no null / empty object / empty array / empty string, required
bindings against the locally expanded value sets, resource ids, known extensions and their value types, and the
invariants of the definitions (a few frequent ones natively, the rest with fhirpathpy compiled at start-up).
Bundles: fullUrl absolute and unique, consistent with the resource id, the first entry of a message/document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from hub.domain.outcome import Issue, Severity, error
from hub.validate import paths
from hub.validate.rules import (
    BUNDLE,
    COMPLEX,
    EXTENSION,
    NARRATIVE,
    OBJECTS,
    PARAMETERS,
    PRIMITIVE,
    RESOURCE,
    SINGLE_OBJECT,
    SINGLE_VALUE,
    VALUES,
    ElementRule,
    Invariant,
    Rules,
    TypeRule,
    describe,
)

# The path of an element: None at the top, else (the parent's path, JSON key or array index). Made in O(1) per
# element; where() spells it as FHIRPath, only for an issue.
Path_ = tuple[Any, str | int] | None
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
_RESTFUL = re.compile(r"https?://\S+/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})")
_HTML_TAG = re.compile(r"<(script|iframe|object|embed|form|style|link|meta)\b", re.IGNORECASE)
_XHTML_BAD = re.compile(r"<(script|iframe|object|embed|form|input|style|link|meta|base|applet)\b", re.IGNORECASE)
_XHTML_ENTITY = re.compile(r"&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)[A-Za-z0-9]+;")
_EXAMPLE_URL = re.compile(r"https?://([a-z0-9.-]*\.)?example\.(org|com)(/|$)")
# extension namespaces whose definitions are not all in schemas/: an unknown extension there is accepted
_OPEN_EXTENSION_DOMAINS = ("http://hl7.dk/", "https://hl7.dk/", "http://medcomfhir.dk/", "http://sektorhub.dk/")
_CORE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/"


@dataclass(frozen=True, slots=True)
class Options:
    """Policies beyond the definitions (the HL7 validator has the same switches)."""

    security_checks: bool = True  # no HTML tags that could run (script, iframe, ...) in strings
    no_html_in_markdown: bool = False  # markdown with any HTML tag is an error
    allow_example_urls: bool = True  # example.org URLs in uri/url elements
    check_contained: bool = True  # validate contained resources
    resolve_references: bool = False  # Type/id references in a Parameters resource must resolve inside it


DEFAULT_OPTIONS = Options()
_ANY_TAG = re.compile(r"<[A-Za-z/]")


def where(parts: Path_, root: str) -> str:
    """The FHIRPath of a path: the chain (parent, key) from the root (None) to the element."""
    keys: list[str | int] = []
    while parts is not None:
        parts, key = parts
        keys.append(key)
    keys.reverse()
    return paths.from_parts(keys, root)


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


class Walk:
    """The state of one validation: issues, invariants that do not hold, options."""

    __slots__ = ("failed", "issues", "options", "root", "rules", "strict_extensions")

    def __init__(self, rules: Rules, root: str, strict_extensions: bool = True, options: Options | None = None) -> None:
        self.rules = rules
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
) -> list[Issue]:
    """All core-definition issues of one resource (a parsed JSON object). root names the top of the paths.

    strict_extensions: an extension whose definition is not in schemas/ is an error (the hub's policy for
    messages, and the HL7 validator's default); otherwise only an unknown one in the FHIR core namespace is.
    """
    resource_type = resource.get("resourceType")
    top = root or (resource_type if isinstance(resource_type, str) and resource_type in rules.types else "Resource")
    walk = Walk(rules, top, strict_extensions, options)
    _walk_resource(walk, resource, None)
    _evaluate(walk)
    return walk.issues


def _resource_type_problem(walk: Walk, value: dict[str, Any], parts: Path_) -> TypeRule | None:
    resource_type = value.get("resourceType")
    rules = walk.rules
    if resource_type is None:
        walk.err("required", (parts, "resourceType"), "a resource must name its resourceType")
        return None
    if not isinstance(resource_type, str) or resource_type not in rules.resource_types:
        shown = _short(resource_type) if isinstance(resource_type, str) else describe(resource_type)
        walk.err("structure", (parts, "resourceType"), f"{shown} is not a FHIR R4 resource type")
        return None
    return rules.types[resource_type]


def _walk_resource(walk: Walk, resource: dict[str, Any], parts: Path_) -> None:
    type_rule = _resource_type_problem(walk, resource, parts)
    if type_rule is None:
        return
    _walk(walk, resource, type_rule, parts)


def _walk(walk: Walk, top: dict[str, Any], top_type: TypeRule, top_parts: Path_) -> None:
    """Every object under top, depth first from a stack; each object's properties in their order.

    The hot loop: per property one dict lookup for its rule, whose check, child type and flags load_rules
    prepared; a path is a (parent, key) pair, made into a FHIRPath only for an issue.
    """
    issues_err = walk.err
    failed = walk.failed
    options = walk.options
    allow_example_urls = options.allow_example_urls
    primitive_element = walk.rules.types["@primitive"]
    quick = allow_example_urls  # ElementRule.accept leaves example URLs to the full path
    # (object, its type, its path, the resource it is in, the root resource)
    stack: list[tuple[dict[str, Any], TypeRule, Path_, dict[str, Any], dict[str, Any]]] = [
        (top, top_type, top_parts, top, top)
    ]
    push = stack.append
    pop = stack.pop
    while stack:
        obj, type_rule, parts, resource, root = pop()
        if not obj:
            issues_err("structure", parts, "an empty JSON object is not allowed; leave the element out")
            continue
        elements = type_rule.elements
        get_rule = elements.get
        is_resource = type_rule.is_resource
        chosen: dict[str, list[str]] | None = None  # choice stem -> its JSON names present (x and _x alike)
        for key, value in obj.items():
            rule = get_rule(key)
            if rule is not None:
                # the common cases first, each exactly what the general path below does for it
                shape = rule.shape
                if shape == SINGLE_VALUE:
                    if quick and rule.accept(value):  # type: ignore[misc]
                        continue  # a valid primitive value with nothing more to check
                elif shape == SINGLE_OBJECT:
                    if type(value) is dict:
                        push((value, rule.target, (parts, key), resource, root))  # type: ignore[arg-type]
                        continue
                elif (
                    shape == VALUES
                    and quick
                    and type(value) is list
                    and value
                    and (rule.max < 0 or len(value) <= rule.max)
                    and all(map(rule.accept, value))  # type: ignore[arg-type]
                ):
                    continue  # valid primitive values with nothing more to check
                elif shape == OBJECTS and type(value) is list and value and (rule.max < 0 or len(value) <= rule.max):
                    here = (parts, key)
                    child = rule.target
                    for i, item in enumerate(value):
                        if type(item) is dict:
                            push((item, child, (here, i), resource, root))  # type: ignore[arg-type]
                        else:
                            issues_err(
                                "structure", (here, i), f"expected a JSON object (an element), found {describe(item)}"
                            )
                    continue
            if rule is None:
                if is_resource and key == "resourceType":
                    continue
                if key[:1] == "_" and len(key) > 1:
                    base = get_rule(key[1:])
                    if base is not None and base.choice is not None:
                        chosen = _chosen(chosen, base)
                    if base is not None and base.kind == PRIMITIVE:
                        _primitive_part(
                            walk,
                            value,
                            base.is_list,
                            (parts, key),
                            obj.get(key[1:]),
                            stack,
                            resource,
                            root,
                            primitive_element,
                        )
                        continue
                issues_err(
                    "structure",
                    (parts, key),
                    f"unknown element {_short(key)}: FHIR R4 defines no such element in {type_rule.name}",
                )
                continue
            if rule.choice is not None:
                chosen = _chosen(chosen, rule)
            if value is None:
                issues_err("structure", (parts, key), "null is not allowed; leave the element out")
                continue
            kind = rule.kind
            if rule.is_list:
                if type(value) is not list:
                    issues_err("structure", (parts, key), f"expected a JSON array, found {describe(value)}")
                    continue
                if not value:
                    issues_err("structure", (parts, key), "an empty JSON array is not allowed; leave the element out")
                    continue
                if 0 <= rule.max < len(value):
                    issues_err("structure", (parts, key), f"{key} has {len(value)} items; at most {rule.max} allowed")
                here = (parts, key)
                if kind == COMPLEX:
                    child = rule.target
                    for i, item in enumerate(value):
                        if type(item) is not dict:
                            issues_err(
                                "structure", (here, i), f"expected a JSON object (an element), found {describe(item)}"
                            )
                            continue
                        if child is None:
                            continue
                        at: Path_ = (here, i)
                        push((item, child, at, resource, root))
                        if rule.pairs is not None:
                            _check_coded(walk, item, rule.type, rule, at)
                        for inv in rule.invariants:
                            holds = inv.check
                            if holds is not None and not holds(item, resource, root, rule.type):
                                failed.append((inv, at))
                    continue
                if kind == PRIMITIVE:
                    check: Any = rule.check
                    for i, item in enumerate(value):
                        if item is None:
                            if ("_" + key) in obj:
                                continue  # keeps a value and its extensions (_x) aligned
                            issues_err("structure", (here, i), "null is not allowed; leave the element out")
                            continue
                        problem = check(item)
                        if problem is not None:
                            issues_err(
                                "structure" if problem.startswith("expected a JSON") else "value", (here, i), problem
                            )
                            continue
                        if rule.text:
                            if "<" in item:
                                _check_html(walk, item, rule.type, (here, i))
                        elif rule.url and not allow_example_urls and example_url(item):
                            issues_err("value", (here, i), f"example URLs are not allowed here: {_short(item, 80)}")
                        if rule.codes is not None and item not in rule.codes:
                            issues_err(
                                "code-invalid",
                                (here, i),
                                f"the code {_short(item)} is not in the required value set {rule.binding}",
                            )
                        for inv in rule.invariants:
                            holds = inv.check
                            if holds is not None and not holds(item, resource, root, rule.type):
                                failed.append((inv, (here, i)))
                    continue
                for i, item in enumerate(value):
                    _resource_item(walk, key, item, rule, (here, i), stack, resource, root)
                continue
            if type(value) is list:
                issues_err("structure", (parts, key), f"{key} is a single element: expected no JSON array")
                continue
            if kind == PRIMITIVE:
                problem = rule.check(value)  # type: ignore[misc]  # (set for every primitive by load_rules)
                if problem is not None:
                    issues_err("structure" if problem.startswith("expected a JSON") else "value", (parts, key), problem)
                    continue
                if rule.text:
                    if "<" in value:
                        _check_html(walk, value, rule.type, (parts, key))
                elif rule.url and not allow_example_urls and example_url(value):
                    issues_err("value", (parts, key), f"example URLs are not allowed here: {_short(value, 80)}")
                if rule.codes is not None and value not in rule.codes:
                    issues_err(
                        "code-invalid",
                        (parts, key),
                        f"the code {_short(value)} is not in the required value set {rule.binding}",
                    )
                for inv in rule.invariants:
                    holds = inv.check
                    if holds is not None and not holds(value, resource, root, rule.type):
                        failed.append((inv, (parts, key)))
            elif type(value) is not dict:
                what = "a resource" if kind == RESOURCE else "an element"
                issues_err("structure", (parts, key), f"expected a JSON object ({what}), found {describe(value)}")
            elif kind == COMPLEX:
                child = rule.target
                if child is None:
                    continue
                at = (parts, key)
                push((value, child, at, resource, root))
                if rule.pairs is not None:
                    _check_coded(walk, value, rule.type, rule, at)
                for inv in rule.invariants:
                    holds = inv.check
                    if holds is not None and not holds(value, resource, root, rule.type):
                        failed.append((inv, at))
            else:
                _resource_item(walk, key, value, rule, (parts, key), stack, resource, root)
        # presence
        for name, extension_name, low in type_rule.presence:
            if name not in obj and extension_name not in obj:
                issues_err(
                    "required",
                    (parts, name),
                    f"the required element {_short(name)} is missing (minimum cardinality {low})",
                )
        if type_rule.choices:
            for stem, (low, names) in type_rule.choices.items():
                found = chosen.get(stem) if chosen is not None else None
                if found is not None and len(found) > 1:
                    present = [n for n in names if n in obj or ("_" + n) in obj]
                    issues_err(
                        "structure",
                        parts,
                        f"more than one type of the choice element {stem}[x] is present: {', '.join(present)}",
                    )
                elif low and found is None:
                    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
                    issues_err("required", parts, f"one of the elements {shown} is required; none is present")
        for inv in type_rule.invariants:
            holds = inv.check
            if holds is not None and not holds(obj, resource, root, type_rule.name):
                failed.append((inv, parts))
        special = type_rule.special
        if special:
            if special == EXTENSION:
                _check_extension(walk, obj, parts)
            elif special == BUNDLE:
                check_bundle(walk, obj, parts)
            elif special == PARAMETERS:
                if options.resolve_references:
                    _check_parameters_references(walk, obj, parts)
            elif special == NARRATIVE:
                div = obj.get("div")
                if isinstance(div, str):
                    _check_xhtml(walk, div, (parts, "div"))
            else:
                _check_attachment(walk, obj, parts)


def _chosen(chosen: dict[str, list[str]] | None, rule: ElementRule) -> dict[str, list[str]]:
    """Notes that the element of a choice is present (its value x or its extensions _x)."""
    if chosen is None:
        chosen = {}
    names = chosen.setdefault(rule.choice, [])  # type: ignore[arg-type]
    if rule.name not in names:
        names.append(rule.name)
    return chosen


def _resource_item(
    walk: Walk,
    key: str,
    item: Any,
    rule: ElementRule,
    at: Path_,
    stack: list[Any],
    resource: dict[str, Any],
    root: dict[str, Any],
) -> None:
    """A resource in an element: contained, Bundle.entry.resource, Parameters.parameter.resource."""
    if type(item) is not dict:
        walk.err("structure", at, f"expected a JSON object (a resource), found {describe(item)}")
        return
    child = _resource_type_problem(walk, item, at)
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
    stack: list[Any],
    resource: dict[str, Any],
    root: dict[str, Any],
    element: TypeRule,
) -> None:
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


def _check_coded(walk: Walk, item: dict[str, Any], type_name: str, rule: Any, at: Path_) -> None:
    pairs = rule.pairs
    if type_name == "Coding":
        system, code = item.get("system"), item.get("code")
        if isinstance(code, str) and isinstance(system, str) and (system, code) not in pairs:
            walk.err("code-invalid", at, f"the code {system}#{code} is not in the required value set {rule.binding}")
    elif type_name == "CodeableConcept":
        codings = item.get("coding")
        if not isinstance(codings, list) or not codings:
            return
        known = [c for c in codings if isinstance(c, dict) and isinstance(c.get("code"), str)]
        if known and not any((c.get("system"), c.get("code")) in pairs for c in known):
            shown = ", ".join(f"{c.get('system')}#{c.get('code')}" for c in known[:3])
            walk.err("code-invalid", at, f"no coding ({_short(shown, 80)}) is in the required value set {rule.binding}")


def _check_extension(walk: Walk, obj: dict[str, Any], parts: Path_) -> None:
    present = [k for k in obj if k.startswith("value")]
    if present and "extension" in obj:
        walk.err("invariant", parts, "an extension has either a value or extensions, not both (ext-1)")
    url = obj.get("url")
    if not isinstance(url, str):
        return
    if "|" in url:
        walk.err("value", (parts, "url"), f"an extension url carries no version: {_short(url, 80)}")
        return
    extensions = walk.rules.extensions
    if url not in extensions:
        if _is_sub_extension(parts):
            return  # a part of a complex extension: its url is a local name
        if "://" not in url:
            return
        if url.startswith(_OPEN_EXTENSION_DOMAINS):
            walk.warn(
                "not-supported",
                parts,
                f"the extension {_short(url, 100)} has no definition in schemas/; its content is not checked",
            )
            return
        if not walk.strict_extensions and not url.startswith(_CORE_EXTENSION):
            return
        walk.err("structure", parts, f"the extension {_short(url, 100)} is not known, so it is not allowed here")
        return
    allowed = extensions[url]
    if allowed is None:
        return
    if present and not allowed:
        walk.err("structure", (parts, present[0]), f"the extension {_short(url, 100)} has no value, only extensions")
    elif present and present[0] not in allowed:
        walk.err(
            "structure",
            (parts, present[0]),
            f"the extension {_short(url, 100)} does not allow {present[0]}; allowed: {', '.join(allowed[:6])}",
        )


def _is_sub_extension(parts: Path_) -> bool:
    # Patient.extension[0].extension[1]: the inner one belongs to a complex extension
    if parts is None or not isinstance(parts[1], int):
        return False
    inner = parts[0]  # ... extension
    if inner is None or inner[1] != "extension":
        return False
    outer = inner[0]  # ... extension[0]
    return outer is not None and outer[0] is not None and outer[0][1] == "extension"


def _check_xhtml(walk: Walk, div: str, parts: Path_) -> None:
    bad = _XHTML_BAD.search(div)
    if bad:
        walk.err("value", parts, f"the narrative XHTML may not contain <{bad.group(1).lower()}> (txt-1)")
    entity = _XHTML_ENTITY.search(div)
    if entity:
        walk.err("value", parts, f"the narrative XHTML uses the entity {entity.group(0)}, which XHTML does not define")
    if re.search(r"\son\w+\s*=", div[:100_000]):
        walk.err("value", parts, "the narrative XHTML may not carry event handler attributes (txt-1)")


def _check_attachment(walk: Walk, obj: dict[str, Any], parts: Path_) -> None:
    data, size = obj.get("data"), obj.get("size")
    if isinstance(data, str) and type(size) is int:
        stripped = re.sub(r"\s+", "", data)
        actual = len(stripped) * 3 // 4 - stripped[-2:].count("=")
        if actual != size:
            walk.err("value", parts, f"the attachment states size {size}, but its data is {actual} bytes")


def _check_parameters_references(walk: Walk, params: dict[str, Any], parts: Path_) -> None:
    known = set()
    for p in params.get("parameter") or ():
        res = p.get("resource") if isinstance(p, dict) else None
        if isinstance(res, dict):
            known.add(f"{res.get('resourceType')}/{res.get('id')}")
    for i, p in enumerate(params.get("parameter") or ()):
        res = p.get("resource") if isinstance(p, dict) else None
        if not isinstance(res, dict):
            continue
        for sub, ref in _relative_references(res, (((parts, "parameter"), i), "resource")):
            if ref not in known:
                walk.err("not-found", sub, f"the reference {_short(ref, 80)} resolves to no resource here")


_RELATIVE = re.compile(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}")


def _relative_references(value: Any, parts: Path_, pattern: re.Pattern[str] = _RELATIVE) -> list[tuple[Path_, str]]:
    found: list[tuple[Path_, str]] = []
    todo: list[tuple[Any, Path_]] = [(value, parts)]
    while todo:
        current, at = todo.pop()
        if isinstance(current, dict):
            ref = current.get("reference")
            if isinstance(ref, str) and pattern.fullmatch(ref):
                found.append((at, ref))
            todo.extend((v, (at, k)) for k, v in current.items() if isinstance(v, dict | list) and k != "contained")
        elif isinstance(current, list):
            todo.extend((v, (at, i)) for i, v in enumerate(current) if isinstance(v, dict | list))
    return found


_VERSIONED = re.compile(r"([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?")


def _check_document_references(walk: Walk, entries: list[Any], parts: Path_) -> None:
    """In a document, a Type/id reference names exactly one entry (and that version, when it gives one)."""
    versions: dict[str, list[Any]] = {}
    for entry in entries:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(res, dict):
            meta = res.get("meta")
            versions.setdefault(f"{res.get('resourceType')}/{res.get('id')}", []).append(
                meta.get("versionId") if isinstance(meta, dict) else None
            )
    for i, entry in enumerate(entries):
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict):
            continue
        for at, ref in _relative_references(res, (((parts, "entry"), i), "resource"), _VERSIONED):
            m = _VERSIONED.fullmatch(ref)
            if m is None:
                continue
            found = versions.get(m.group(1), [])
            if m.group(2) is not None:
                if m.group(2) not in found:
                    walk.err("not-found", at, f"the reference {_short(ref, 80)} names no entry of the document")
            elif len(found) > 1:
                walk.err("invalid", at, f"the reference {_short(ref, 80)} matches {len(found)} entries of the document")


def check_bundle(walk: Walk, bundle: dict[str, Any], parts: Path_) -> None:
    """fullUrl absolute and unique (bdl-7), consistent with the resource id; message/document first entries."""
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        entries = []
    kind = bundle.get("type")
    seen: dict[tuple[str, Any], int] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        full = entry.get("fullUrl")
        resource = entry.get("resource")
        at = ((parts, "entry"), i)
        if isinstance(full, str) and full:
            if not _ABSOLUTE.fullmatch(full):
                text = f"the fullUrl must be an absolute URL, not {_short(full, 80)}"
                if kind == "message" and _RELATIVE.fullmatch(full):
                    # MedCom's published test fixtures (HospitalNotification 3.0.1, Acknowledgement 2.0.0) use
                    # Type/id fullUrls and expect receivers to accept them: a warning for messages
                    walk.warn("value", (at, "fullUrl"), text)
                else:
                    walk.err("value", (at, "fullUrl"), text)
            version = None
            if isinstance(resource, dict):
                meta = resource.get("meta")
                version = meta.get("versionId") if isinstance(meta, dict) else None
                rid = resource.get("id")
                # (_RESTFUL starts with http: no need to run it on urn:uuid: and the like)
                rest = _RESTFUL.fullmatch(full) if full.startswith("http") and isinstance(rid, str) else None
                if rest is not None and (rest.group(1), rest.group(2)) != (resource.get("resourceType"), rid):
                    rtype = resource.get("resourceType")
                    walk.err(
                        "value",
                        (at, "fullUrl"),
                        f"the fullUrl {_short(full, 80)} does not match the resource {rtype}/{rid}",
                    )
            if (full, version) in seen:
                walk.err(
                    "invariant",
                    (at, "fullUrl"),
                    f"the fullUrl {_short(full, 80)} is also the fullUrl of "
                    f"entry[{seen[(full, version)]}]; fullUrls are unique in a Bundle (bdl-7)",
                )
            else:
                seen[(full, version)] = i
    first = entries[0].get("resource") if entries and isinstance(entries[0], dict) else None
    first_type = first.get("resourceType") if isinstance(first, dict) else None
    if kind == "document":
        if first_type != "Composition":
            walk.err("invariant", (parts, "entry"), "a document's first entry is a Composition (bdl-11)")
        if "identifier" not in bundle:
            walk.err("invariant", parts, "a document has an identifier (bdl-9)")
        if "timestamp" not in bundle:
            walk.err("invariant", parts, "a document has a timestamp (bdl-10)")
    elif kind == "message" and entries and first_type != "MessageHeader" and parts is not None:
        walk.err("invariant", (parts, "entry"), "a message's first entry is a MessageHeader (bdl-12)")
    if kind == "document":
        _check_document_references(walk, entries, parts)
    links = bundle.get("link")
    if isinstance(links, list):
        relations: dict[str, int] = {}
        for i, link in enumerate(links):
            relation = link.get("relation") if isinstance(link, dict) else None
            if relation in ("self", "first", "previous", "prev", "next", "last") and relation in relations:
                walk.err("invariant", ((parts, "link"), i), f"the link relation {relation!r} can occur only once")
            elif isinstance(relation, str):
                relations[relation] = i


def _evaluate(walk: Walk) -> None:
    for inv, parts in walk.failed:
        text = f"{inv.key}: {inv.human}"
        if inv.severity == "error":
            walk.err("invariant", parts, text)
        else:
            walk.warn("invariant", parts, text)
    walk.failed.clear()


def check_strings(walk: Walk, value: Any) -> None:  # pragma: no cover - kept for symmetry
    return None


def example_url(value: str) -> bool:
    return bool(_EXAMPLE_URL.match(value))


def html_in_string(value: str) -> bool:
    return bool(_HTML_TAG.search(value))


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
