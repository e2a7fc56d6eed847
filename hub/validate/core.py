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
from hub.validate.rules import COMPLEX, PRIMITIVE, RESOURCE, Invariant, Rules, TypeRule, describe

Path_ = tuple[str | int, ...]
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
_STRING_TYPES = frozenset({"string", "markdown"})
_URL_TYPES = frozenset({"uri", "url"})
_ANY_TAG = re.compile(r"<[A-Za-z/]")


def where(parts: Path_, root: str) -> str:
    return paths.from_parts(parts, root)


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


class Walk:
    """The state of one validation: issues, pending invariants, what the Bundle rules need."""

    __slots__ = ("issues", "options", "pending", "root", "rules", "strict_extensions")

    def __init__(self, rules: Rules, root: str, strict_extensions: bool = True, options: Options | None = None) -> None:
        self.rules = rules
        self.strict_extensions = strict_extensions
        self.options = options or DEFAULT_OPTIONS
        self.root = root
        self.issues: list[Issue] = []
        # (invariant, node, its type, resource, root resource, path)
        self.pending: list[tuple[Invariant, Any, str, Any, Any, Path_]] = []

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
    _walk_resource(walk, resource, ())
    _evaluate(walk)
    return walk.issues


def _resource_type_problem(walk: Walk, value: dict[str, Any], parts: Path_) -> TypeRule | None:
    resource_type = value.get("resourceType")
    rules = walk.rules
    if resource_type is None:
        walk.err("required", (*parts, "resourceType"), "a resource must name its resourceType")
        return None
    if not isinstance(resource_type, str) or resource_type not in rules.resource_types:
        shown = _short(resource_type) if isinstance(resource_type, str) else describe(resource_type)
        walk.err("structure", (*parts, "resourceType"), f"{shown} is not a FHIR R4 resource type")
        return None
    return rules.types[resource_type]


def _walk_resource(walk: Walk, resource: dict[str, Any], parts: Path_) -> None:
    type_rule = _resource_type_problem(walk, resource, parts)
    if type_rule is None:
        return
    _walk(walk, resource, type_rule, parts)


def _walk(walk: Walk, top: dict[str, Any], top_type: TypeRule, top_parts: Path_) -> None:
    rules = walk.rules
    types = rules.types
    primitives = rules.primitives
    issues_err = walk.err
    pending = walk.pending
    # (object, its type, its path, the resource it is in, the root resource)
    stack: list[tuple[dict[str, Any], TypeRule, Path_, dict[str, Any], dict[str, Any]]] = [
        (top, top_type, top_parts, top, top)
    ]
    while stack:
        obj, type_rule, parts, resource, root = stack.pop()
        if not obj:
            issues_err("structure", parts, "an empty JSON object is not allowed; leave the element out")
            continue
        elements = type_rule.elements
        is_resource = type_rule.kind == "resource"
        for key, value in obj.items():
            rule = elements.get(key)
            if rule is None:
                if is_resource and key == "resourceType":
                    continue
                if key[:1] == "_" and len(key) > 1:
                    base = elements.get(key[1:])
                    if base is not None and base.kind == PRIMITIVE:
                        _primitive_part(
                            walk, value, base.is_list, (*parts, key), obj.get(key[1:]), stack, resource, root
                        )
                        continue
                issues_err(
                    "structure",
                    (*parts, key),
                    f"unknown element {_short(key)}: FHIR R4 defines no such element in {type_rule.name}",
                )
                continue
            here = (*parts, key)
            if value is None:
                issues_err("structure", here, "null is not allowed; leave the element out")
                continue
            if rule.is_list:
                if type(value) is not list:
                    issues_err("structure", here, f"expected a JSON array, found {describe(value)}")
                    continue
                if not value:
                    issues_err("structure", here, "an empty JSON array is not allowed; leave the element out")
                    continue
                if rule.max >= 0 and len(value) > rule.max:
                    issues_err("structure", here, f"{key} has {len(value)} items; at most {rule.max} allowed")
                items: list[Any] = value
                indexed = True
            else:
                if type(value) is list:
                    issues_err("structure", here, f"{key} is a single element: expected no JSON array")
                    continue
                items = [value]
                indexed = False
            kind = rule.kind
            for i, item in enumerate(items):
                at = (*here, i) if indexed else here
                if kind == PRIMITIVE:
                    if item is None:
                        if indexed and ("_" + key) in obj:
                            continue  # keeps a value and its extensions (_x) aligned
                        issues_err("structure", at, "null is not allowed; leave the element out")
                        continue
                    problem = primitives[rule.type](item)
                    if problem is not None:
                        issues_err("structure" if problem.startswith("expected a JSON") else "value", at, problem)
                        continue
                    if rule.type in _STRING_TYPES and "<" in item:
                        _check_html(walk, item, rule.type, at)
                    elif rule.type in _URL_TYPES and not walk.options.allow_example_urls and example_url(item):
                        issues_err("value", at, f"example URLs are not allowed here: {_short(item, 80)}")
                    if rule.codes is not None and item not in rule.codes:
                        issues_err(
                            "code-invalid",
                            at,
                            f"the code {_short(item)} is not in the required value set {rule.binding}",
                        )
                elif type(item) is not dict:
                    what = "a resource" if kind == RESOURCE else "an element"
                    issues_err("structure", at, f"expected a JSON object ({what}), found {describe(item)}")
                    continue
                elif kind == COMPLEX:
                    child = types.get(rule.type)
                    if child is None:
                        continue
                    stack.append((item, child, at, resource, root))
                    if rule.pairs is not None:
                        _check_coded(walk, item, rule.type, rule, at)
                else:  # a resource: contained, Bundle.entry.resource, Parameters.parameter.resource
                    child = _resource_type_problem(walk, item, at)
                    if child is None:
                        continue
                    if key == "contained" and not walk.options.check_contained:
                        continue
                    if key == "contained":
                        if "contained" in item:
                            issues_err(
                                "structure", (*at, "contained"), "a contained resource cannot contain resources (dom-2)"
                            )
                        meta = item.get("meta")
                        if isinstance(meta, dict) and ("versionId" in meta or "lastUpdated" in meta):
                            issues_err(
                                "invariant",
                                (*at, "meta"),
                                "a contained resource has no meta.versionId or meta.lastUpdated (dom-4)",
                            )
                        stack.append((item, child, at, item, root))
                    else:
                        stack.append((item, child, at, item, item))
                if rule.invariants:
                    for inv in rule.invariants:
                        pending.append((inv, item, rule.type, resource, root, at))
        # presence
        for name in type_rule.required:
            if name not in obj and ("_" + name) not in obj:
                issues_err(
                    "required",
                    (*parts, name),
                    f"the required element {_short(name)} is missing (minimum cardinality {elements[name].min})",
                )
        if type_rule.choices:
            for stem, (low, names) in type_rule.choices.items():
                present = [n for n in names if n in obj or ("_" + n) in obj]
                if len(present) > 1:
                    issues_err(
                        "structure",
                        parts,
                        f"more than one type of the choice element {stem}[x] is present: {', '.join(present)}",
                    )
                elif low and not present:
                    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
                    issues_err("required", parts, f"one of the elements {shown} is required; none is present")
        if type_rule.invariants:
            for inv in type_rule.invariants:
                pending.append((inv, obj, type_rule.name, resource, root, parts))
        if type_rule.name == "Extension":
            _check_extension(walk, obj, parts)
        elif is_resource:
            _check_resource_rules(walk, obj, type_rule, parts)
        elif type_rule.name == "Narrative":
            div = obj.get("div")
            if isinstance(div, str):
                _check_xhtml(walk, div, (*parts, "div"))
        elif type_rule.name == "Attachment":
            _check_attachment(walk, obj, parts)


def _primitive_part(
    walk: Walk,
    value: Any,
    is_list: bool,
    parts: Path_,
    sibling: Any,
    stack: list[Any],
    resource: dict[str, Any],
    root: dict[str, Any],
) -> None:
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
                    (*parts, i),
                    f"expected a JSON object (id and extensions of a primitive), found {describe(item)}",
                )
            else:
                stack.append((item, element, (*parts, i), resource, root))
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
    has_value = any(k.startswith("value") for k in obj)
    if has_value and "extension" in obj:
        walk.err("invariant", parts, "an extension has either a value or extensions, not both (ext-1)")
    url = obj.get("url")
    if not isinstance(url, str):
        return
    if "|" in url:
        walk.err("value", (*parts, "url"), f"an extension url carries no version: {_short(url, 80)}")
        return
    if url not in walk.rules.extensions:
        if parts and parts[-2:-1] == ("extension",) and isinstance(parts[-1], int) and _is_sub_extension(parts):
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
    allowed = walk.rules.extensions[url]
    if allowed is None:
        return
    present = [k for k in obj if k.startswith("value")]
    if present and not allowed:
        walk.err("structure", (*parts, present[0]), f"the extension {_short(url, 100)} has no value, only extensions")
    elif present and present[0] not in allowed:
        walk.err(
            "structure",
            (*parts, present[0]),
            f"the extension {_short(url, 100)} does not allow {present[0]}; allowed: {', '.join(allowed[:6])}",
        )


def _is_sub_extension(parts: Path_) -> bool:
    # Patient.extension[0].extension[1]: the inner one belongs to a complex extension
    return len(parts) >= 4 and parts[-4] == "extension"


def _check_resource_rules(walk: Walk, obj: dict[str, Any], type_rule: TypeRule, parts: Path_) -> None:
    if type_rule.name == "Bundle":
        check_bundle(walk, obj, parts)
    elif type_rule.name == "Parameters" and walk.options.resolve_references:
        _check_parameters_references(walk, obj, parts)


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
        for sub, ref in _relative_references(res, (*parts, "parameter", i, "resource")):
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
            todo.extend((v, (*at, k)) for k, v in current.items() if isinstance(v, dict | list) and k != "contained")
        elif isinstance(current, list):
            todo.extend((v, (*at, i)) for i, v in enumerate(current) if isinstance(v, dict | list))
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
        for at, ref in _relative_references(res, (*parts, "entry", i, "resource"), _VERSIONED):
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
        at = (*parts, "entry", i)
        if isinstance(full, str) and full:
            if not _ABSOLUTE.fullmatch(full):
                text = f"the fullUrl must be an absolute URL, not {_short(full, 80)}"
                if kind == "message" and _RELATIVE.fullmatch(full):
                    # MedCom's published test fixtures (HospitalNotification 3.0.1, Acknowledgement 2.0.0) use
                    # Type/id fullUrls and expect receivers to accept them: a warning for messages
                    walk.warn("value", (*at, "fullUrl"), text)
                else:
                    walk.err("value", (*at, "fullUrl"), text)
            version = None
            if isinstance(resource, dict):
                meta = resource.get("meta")
                version = meta.get("versionId") if isinstance(meta, dict) else None
                rest = _RESTFUL.fullmatch(full)
                rid, rtype = resource.get("id"), resource.get("resourceType")
                if rest and isinstance(rid, str) and (rest.group(1), rest.group(2)) != (rtype, rid):
                    walk.err(
                        "value",
                        (*at, "fullUrl"),
                        f"the fullUrl {_short(full, 80)} does not match the resource {rtype}/{rid}",
                    )
                if full.startswith("urn:uuid:") and isinstance(rid, str) and kind not in ("transaction", "batch"):
                    pass
            if (full, version) in seen:
                walk.err(
                    "invariant",
                    (*at, "fullUrl"),
                    f"the fullUrl {_short(full, 80)} is also the fullUrl of "
                    f"entry[{seen[(full, version)]}]; fullUrls are unique in a Bundle (bdl-7)",
                )
            else:
                seen[(full, version)] = i
    first = entries[0].get("resource") if entries and isinstance(entries[0], dict) else None
    first_type = first.get("resourceType") if isinstance(first, dict) else None
    if kind == "document":
        if first_type != "Composition":
            walk.err("invariant", (*parts, "entry"), "a document's first entry is a Composition (bdl-11)")
        if "identifier" not in bundle:
            walk.err("invariant", parts, "a document has an identifier (bdl-9)")
        if "timestamp" not in bundle:
            walk.err("invariant", parts, "a document has a timestamp (bdl-10)")
    elif kind == "message" and entries and first_type != "MessageHeader" and parts:
        walk.err("invariant", (*parts, "entry"), "a message's first entry is a MessageHeader (bdl-12)")
    if kind == "document":
        _check_document_references(walk, entries, parts)
    links = bundle.get("link")
    if isinstance(links, list):
        relations: dict[str, int] = {}
        for i, link in enumerate(links):
            relation = link.get("relation") if isinstance(link, dict) else None
            if relation in ("self", "first", "previous", "prev", "next", "last") and relation in relations:
                walk.err("invariant", (*parts, "link", i), f"the link relation {relation!r} can occur only once")
            elif isinstance(relation, str):
                relations[relation] = i


def _evaluate(walk: Walk) -> None:
    for inv, node, type_name, resource, root, parts in walk.pending:
        check = inv.check
        if check is None:
            continue
        if check(node, resource, root, type_name):
            continue
        text = f"{inv.key}: {inv.human}"
        if inv.severity == "error":
            walk.err("invariant", parts, text)
        else:
            walk.warn("invariant", parts, text)
    walk.pending.clear()


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
